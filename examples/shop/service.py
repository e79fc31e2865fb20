"""The service layer: each function takes a connection from the pool and commits its own work."""

from decimal import Decimal

import psycopg

from examples.shop import db


class OutOfStock(Exception):
    """An order asks for more than the stock holds."""


def register_user(email: str, name: str) -> int:
    """Create a customer; return its id (the unit of work commits at the end of the block)."""
    with db.pool.connection() as conn:
        return conn.execute("INSERT INTO users (email, name) VALUES (%s, %s) RETURNING id",
                            (email, name)).fetchone()[0]


def add_product(sku: str, name: str, price: Decimal, stock: int) -> int:
    with db.pool.connection() as conn:
        return conn.execute("INSERT INTO products (sku, name, price, stock) VALUES (%s, %s, %s, %s) RETURNING id",
                            (sku, name, price, stock)).fetchone()[0]


def buy(user_id: int, lines: list[tuple[int, int]]) -> int:
    """Place an order of (product id, quantity) lines in one transaction; OutOfStock leaves nothing behind."""
    conn = db.pool.getconn()
    try:
        order_id = conn.execute("INSERT INTO orders (user_id) VALUES (%s) RETURNING id", (user_id,)).fetchone()[0]
        for product_id, quantity in lines:
            conn.execute("INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
                         "SELECT %s, id, %s, price FROM products WHERE id = %s", (order_id, quantity, product_id))
        try:
            conn.execute("SELECT place_order(%s)", (order_id,))
        except psycopg.errors.CheckViolation:
            conn.rollback()
            raise OutOfStock(f"order of user {user_id} asks for more than the stock holds") from None
        conn.commit()
        return order_id
    finally:
        db.pool.putconn(conn)


def rename_user_safely(user_id: int, name: str) -> bool:
    """Rename a customer; an empty name is rejected by rolling the unit of work back. True when renamed."""
    conn = db.pool.getconn()
    try:
        conn.execute("UPDATE users SET name = %s WHERE id = %s", (name, user_id))
        if not name.strip():
            conn.rollback()
            return False
        conn.commit()
        return True
    finally:
        db.pool.putconn(conn)


def order_totals_one_by_one(user_id: int) -> list[tuple[int, Decimal]]:
    """(order id, total) of a customer's orders, one lookup per order: an N+1 (order_totals is the fix)."""
    with db.pool.connection() as conn:
        orders = conn.execute("SELECT id FROM orders WHERE user_id = %s ORDER BY id", (user_id,)).fetchall()
        return [(order_id, conn.execute("SELECT coalesce(sum(quantity * unit_price), 0) FROM order_items "
                                        "WHERE order_id = %s", (order_id,)).fetchone()[0])
                for (order_id,) in orders]


def order_totals(user_id: int) -> list[tuple[int, Decimal]]:
    """(order id, total) of a customer's orders, in one statement."""
    with db.pool.connection() as conn:
        return conn.execute("SELECT o.id, coalesce(sum(i.quantity * i.unit_price), 0) FROM orders o "
                            "LEFT JOIN order_items i ON i.order_id = o.id WHERE o.user_id = %s "
                            "GROUP BY o.id ORDER BY o.id", (user_id,)).fetchall()
