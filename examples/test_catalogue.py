"""Catalogue: the products table's checks, loading rows with insert_rows, counting queries.

Shows ``insert_rows`` in ``setUpTestData`` and in a test, CHECK and UNIQUE
violations on products, numeric rounding, and ``assertNumQueries`` to pin how
many statements a piece of code sends.
"""

from decimal import Decimal

import psycopg
import tddkit

from examples.factories import create_product

CATALOGUE = [
    {"sku": "MUG-01", "name": "Coffee mug", "price": Decimal("8.50"), "stock": 40},
    {"sku": "TEE-01", "name": "T-shirt", "price": Decimal("19.00"), "stock": 12},
    {"sku": "STK-01", "name": "Sticker", "price": Decimal("0.99"), "stock": 500},
]


class ProductTests(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.insert_rows("products", CATALOGUE)

    def test_catalogue_is_loaded_once_for_the_class(self):
        rows = self.fetch_all("SELECT sku, price, stock FROM products ORDER BY sku")
        self.assertEqual(rows, [
            ("MUG-01", Decimal("8.50"), 40),
            ("STK-01", Decimal("0.99"), 500),
            ("TEE-01", Decimal("19.00"), 12),
        ])

    def test_duplicate_sku_is_rejected(self):
        with self.assertRaises(psycopg.errors.UniqueViolation):
            create_product(self.conn, "Other mug", Decimal("5.00"), sku="MUG-01")

    def test_negative_price_is_rejected(self):
        with self.assertRaises(psycopg.errors.CheckViolation):
            create_product(self.conn, "Refund voucher", Decimal("-1.00"))

    def test_free_product_is_allowed(self):
        product_id = create_product(self.conn, "Free sample", Decimal("0"))
        price = self.conn.execute("SELECT price FROM products WHERE id = %s", (product_id,)).fetchone()[0]
        self.assertEqual(price, Decimal("0.00"))

    def test_negative_stock_is_rejected(self):
        with self.assertRaises(psycopg.errors.CheckViolation):
            self.conn.execute("UPDATE products SET stock = stock - 13 WHERE sku = 'TEE-01'")

    def test_stock_defaults_to_zero(self):
        self.conn.execute("INSERT INTO products (sku, name, price) VALUES ('CAP-01', 'Cap', 12)")
        stock = self.conn.execute("SELECT stock FROM products WHERE sku = 'CAP-01'").fetchone()[0]
        self.assertEqual(stock, 0)

    def test_price_is_rounded_to_cents(self):
        product_id = create_product(self.conn, "Odd price", Decimal("9.999"))
        price = self.conn.execute("SELECT price FROM products WHERE id = %s", (product_id,)).fetchone()[0]
        self.assertEqual(price, Decimal("10.00"))

    def test_one_bad_row_fails_the_whole_batch(self):
        # The batch runs in a savepoint: when its second row fails, its first
        # row is undone as well, and the test can go on using the connection.
        with self.assertRaises(psycopg.errors.CheckViolation):
            with self.conn.transaction():
                self.insert_rows("products", [
                    {"sku": "PEN-01", "name": "Pen", "price": Decimal("1.50")},
                    {"sku": "PEN-02", "name": "Broken pen", "price": Decimal("-1.50")},
                ])
        count = self.conn.execute("SELECT count(*) FROM products WHERE sku LIKE 'PEN-%'").fetchone()[0]
        self.assertEqual(count, 0)

    def test_price_increase_touches_every_product(self):
        self.conn.execute("UPDATE products SET price = price * 1.10")
        prices = dict(self.fetch_all("SELECT sku, price FROM products"))
        self.assertEqual(prices, {
            "MUG-01": Decimal("9.35"),
            "TEE-01": Decimal("20.90"),
            "STK-01": Decimal("1.09"),
        })


class QueryCountTests(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.insert_rows("products", CATALOGUE)

    def test_insert_rows_is_a_single_statement(self):
        rows = [{"sku": f"BULK-{i:03d}", "name": f"Bulk item {i}", "price": Decimal("2.00")} for i in range(50)]
        with self.assertNumQueries(1):
            inserted = self.insert_rows("products", rows)
        self.assertEqual(inserted, 50)
        self.assertEqual(self.conn.execute("SELECT count(*) FROM products").fetchone()[0], 53)

    def test_search_runs_one_query(self):
        with self.assertNumQueries(1) as log:
            found = self.fetch_all("SELECT sku FROM products WHERE name ILIKE %s ORDER BY sku", ("%t%",))
        self.assertEqual(found, [("STK-01",), ("TEE-01",)])
        self.assertIn("ILIKE", log.statements[0][0])

    def test_looking_products_up_one_by_one_costs_a_query_each(self):
        skus = [p["sku"] for p in CATALOGUE]
        with self.assertNumQueries(len(skus)):
            stock = {
                sku: self.conn.execute("SELECT stock FROM products WHERE sku = %s", (sku,)).fetchone()[0]
                for sku in skus
            }
        with self.assertNumQueries(1):
            in_one_go = dict(self.fetch_all("SELECT sku, stock FROM products WHERE sku = ANY(%s)", (skus,)))
        self.assertEqual(stock, in_one_go)
