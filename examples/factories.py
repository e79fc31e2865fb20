"""Small helpers that create shop rows through a connection and return their ids.

Each helper takes the connection to use (``cls.conn`` in ``setUpTestData``,
``self.conn`` in a test) so it works at both levels. E-mail addresses and SKUs
get a running number, so repeated calls never collide on a unique constraint.
"""

import itertools
from decimal import Decimal

_numbers = itertools.count(1)


def create_user(conn, email: str | None = None, name: str = "Test User") -> int:
    """Insert a user; return its id."""
    if email is None:
        email = f"user{next(_numbers)}@example.com"
    return conn.execute(
        "INSERT INTO users (email, name) VALUES (%s, %s) RETURNING id", (email, name)
    ).fetchone()[0]


def create_product(
    conn,
    name: str = "Widget",
    price: Decimal = Decimal("1.00"),
    stock: int = 0,
    sku: str | None = None,
) -> int:
    """Insert a product; return its id."""
    if sku is None:
        sku = f"SKU-{next(_numbers):05d}"
    return conn.execute(
        "INSERT INTO products (sku, name, price, stock) VALUES (%s, %s, %s, %s) RETURNING id",
        (sku, name, price, stock),
    ).fetchone()[0]


def create_order(conn, user_id: int, status: str = "cart") -> int:
    """Insert an order for ``user_id``; return its id."""
    return conn.execute(
        "INSERT INTO orders (user_id, status) VALUES (%s, %s) RETURNING id", (user_id, status)
    ).fetchone()[0]


def add_item(conn, order_id: int, product_id: int, quantity: int = 1, unit_price: Decimal | None = None) -> None:
    """Add a line to an order, priced at the product's current price unless given."""
    if unit_price is None:
        unit_price = conn.execute("SELECT price FROM products WHERE id = %s", (product_id,)).fetchone()[0]
    conn.execute(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (%s, %s, %s, %s)",
        (order_id, product_id, quantity, unit_price),
    )
