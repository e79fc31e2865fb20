"""Orders: foreign keys, the order_totals view, place_order() and cascading deletes.

``setUpTestData`` builds one customer with a two-line cart that every test
starts from; tests change it freely, because each one is rolled back.
"""

from decimal import Decimal

import psycopg
import tddkit

from examples.factories import add_item, create_order, create_product, create_user


class OrderTestCase(tddkit.TDDTestCase):
    """A customer, two products and a cart: 4 mugs at 2.50 and 1 lamp at 10.00."""

    @classmethod
    def setUpTestData(cls):
        cls.user_id = create_user(cls.conn, "carol@example.com", "Carol")
        cls.mug_id = create_product(cls.conn, "Mug", Decimal("2.50"), stock=10)
        cls.lamp_id = create_product(cls.conn, "Lamp", Decimal("10.00"), stock=3)
        cls.cart_id = create_order(cls.conn, cls.user_id)
        add_item(cls.conn, cls.cart_id, cls.mug_id, quantity=4)
        add_item(cls.conn, cls.cart_id, cls.lamp_id, quantity=1)

    def stock(self, product_id):
        return self.conn.execute("SELECT stock FROM products WHERE id = %s", (product_id,)).fetchone()[0]

    def status(self, order_id):
        return self.conn.execute("SELECT status FROM orders WHERE id = %s", (order_id,)).fetchone()[0]

    def total(self, order_id):
        return self.conn.execute("SELECT total FROM order_totals WHERE order_id = %s", (order_id,)).fetchone()[0]


class OrderConstraintTests(OrderTestCase):
    def test_new_order_is_a_cart(self):
        order_id = self.conn.execute(
            "INSERT INTO orders (user_id) VALUES (%s) RETURNING id", (self.user_id,)
        ).fetchone()[0]
        self.assertEqual(self.status(order_id), "cart")

    def test_order_needs_an_existing_user(self):
        missing_user = self.conn.execute("SELECT max(id) + 1 FROM users").fetchone()[0]
        with self.assertRaises(psycopg.errors.ForeignKeyViolation):
            create_order(self.conn, missing_user)

    def test_item_needs_an_existing_product(self):
        missing_product = self.conn.execute("SELECT max(id) + 1 FROM products").fetchone()[0]
        with self.assertRaises(psycopg.errors.ForeignKeyViolation):
            add_item(self.conn, self.cart_id, missing_product, quantity=1, unit_price=Decimal("1.00"))

    def test_quantity_must_be_positive(self):
        other = create_product(self.conn, "Spoon", Decimal("1.00"), stock=5)
        with self.assertRaises(psycopg.errors.CheckViolation):
            add_item(self.conn, self.cart_id, other, quantity=0)

    def test_product_appears_once_per_order(self):
        with self.assertRaises(psycopg.errors.UniqueViolation):
            add_item(self.conn, self.cart_id, self.mug_id, quantity=2)

    def test_unknown_status_is_rejected(self):
        with self.assertRaises(psycopg.errors.InvalidTextRepresentation):
            self.conn.execute("UPDATE orders SET status = 'lost' WHERE id = %s", (self.cart_id,))


class OrderTotalsViewTests(OrderTestCase):
    def test_total_sums_quantity_times_unit_price(self):
        self.assertEqual(self.total(self.cart_id), Decimal("20.00"))

    def test_empty_order_totals_zero(self):
        empty_id = create_order(self.conn, self.user_id)
        self.assertEqual(self.total(empty_id), Decimal("0.00"))

    def test_total_keeps_the_price_paid(self):
        # Lines store their unit price, so a later price change does not alter the order.
        self.conn.execute("UPDATE products SET price = 99 WHERE id = %s", (self.mug_id,))
        self.assertEqual(self.total(self.cart_id), Decimal("20.00"))

    def test_view_lists_each_order_of_a_user_once(self):
        second = create_order(self.conn, self.user_id)
        add_item(self.conn, second, self.lamp_id, quantity=2)
        rows = self.fetch_all(
            "SELECT order_id, status::text, total FROM order_totals WHERE user_id = %s ORDER BY order_id",
            (self.user_id,),
        )
        self.assertEqual(rows, [
            (self.cart_id, "cart", Decimal("20.00")),
            (second, "cart", Decimal("20.00")),
        ])


class PlaceOrderTests(OrderTestCase):
    def test_placing_takes_items_out_of_stock(self):
        self.conn.execute("SELECT place_order(%s)", (self.cart_id,))
        self.assertEqual(self.status(self.cart_id), "placed")
        self.assertEqual(self.stock(self.mug_id), 6)
        self.assertEqual(self.stock(self.lamp_id), 2)

    def test_place_order_is_one_query_from_the_client(self):
        # Statements run inside the function are not sent by the client, so they do not count.
        with self.assertNumQueries(1):
            self.conn.execute("SELECT place_order(%s)", (self.cart_id,))

    def test_placing_twice_fails_and_leaves_stock_alone(self):
        self.conn.execute("SELECT place_order(%s)", (self.cart_id,))
        with self.assertRaises(psycopg.errors.RaiseException) as caught:
            with self.conn.transaction():
                self.conn.execute("SELECT place_order(%s)", (self.cart_id,))
        self.assertIn(f"order {self.cart_id} is not a cart", str(caught.exception))
        self.assertEqual(self.stock(self.mug_id), 6)

    def test_cancelled_order_cannot_be_placed(self):
        self.conn.execute("UPDATE orders SET status = 'cancelled' WHERE id = %s", (self.cart_id,))
        with self.assertRaises(psycopg.errors.RaiseException):
            with self.conn.transaction():
                self.conn.execute("SELECT place_order(%s)", (self.cart_id,))
        # The stock update ran before the status check; the error undid it.
        self.assertEqual(self.stock(self.mug_id), 10)
        self.assertEqual(self.status(self.cart_id), "cancelled")

    def test_not_enough_stock_fails_as_a_whole(self):
        self.conn.execute(
            "UPDATE order_items SET quantity = 5 WHERE order_id = %s AND product_id = %s",
            (self.cart_id, self.lamp_id),
        )
        with self.assertRaises(psycopg.errors.CheckViolation):
            with self.conn.transaction():
                self.conn.execute("SELECT place_order(%s)", (self.cart_id,))
        self.assertEqual(self.status(self.cart_id), "cart")
        self.assertEqual((self.stock(self.mug_id), self.stock(self.lamp_id)), (10, 3))

    def test_stock_is_back_for_the_next_test(self):
        # Whatever order the tests above ran in, each starts from the class's data.
        self.assertEqual((self.stock(self.mug_id), self.stock(self.lamp_id)), (10, 3))
        self.assertEqual(self.status(self.cart_id), "cart")


class DeleteTests(OrderTestCase):
    def test_deleting_a_user_deletes_their_orders_and_items(self):
        self.conn.execute("DELETE FROM users WHERE id = %s", (self.user_id,))
        orders = self.conn.execute("SELECT count(*) FROM orders WHERE user_id = %s", (self.user_id,)).fetchone()[0]
        items = self.conn.execute("SELECT count(*) FROM order_items WHERE order_id = %s", (self.cart_id,)).fetchone()[0]
        self.assertEqual((orders, items), (0, 0))

    def test_deleting_an_order_deletes_its_items_only(self):
        self.conn.execute("DELETE FROM orders WHERE id = %s", (self.cart_id,))
        items = self.conn.execute("SELECT count(*) FROM order_items").fetchone()[0]
        products = self.conn.execute("SELECT count(*) FROM products").fetchone()[0]
        self.assertEqual((items, products), (0, 2))

    def test_ordered_product_cannot_be_deleted(self):
        with self.assertRaises(psycopg.errors.ForeignKeyViolation):
            self.conn.execute("DELETE FROM products WHERE id = %s", (self.mug_id,))

    def test_unordered_product_can_be_deleted(self):
        spare = create_product(self.conn, "Spare part", Decimal("3.00"))
        deleted = self.conn.execute("DELETE FROM products WHERE id = %s", (spare,)).rowcount
        self.assertEqual(deleted, 1)
