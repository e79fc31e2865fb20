"""The shop's service layer under test: its own commits and rollbacks, inside each test's transaction.

The service code takes connections from a module-level pool and commits its
own work. The tests swap that pool for ``self.pool`` (the test's connection,
in joined mode): the service's commits are kept within the test, its
rollbacks undo only its own work, and everything is rolled back afterwards.
"""

from decimal import Decimal
from unittest import mock

import tddkit

from examples.shop import service


class ShopServiceTests(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        with mock.patch("examples.shop.db.pool", cls.pool):  # the class's data, made by the application itself
            cls.ada = service.register_user("ada@example.com", "Ada")
            cls.mug = service.add_product("MUG", "Mug", Decimal("2.50"), stock=3)

    def setUp(self):
        patcher = mock.patch("examples.shop.db.pool", self.pool)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_a_registered_user_is_visible_to_the_test(self):
        user_id = service.register_user("grace@example.com", "Grace")
        self.assertEqual(self.conn.execute("SELECT name FROM users WHERE id = %s", (user_id,)).fetchone(),
                         ("Grace",))

    def test_no_user_from_the_previous_test_remains(self):
        emails = [r[0] for r in self.conn.execute("SELECT email FROM users ORDER BY email")]
        self.assertEqual(emails, ["ada@example.com"])

    def test_buying_commits_the_order_and_takes_stock(self):
        order_id = service.buy(self.ada, [(self.mug, 2)])
        self.assertEqual(self.conn.execute("SELECT status::text FROM orders WHERE id = %s", (order_id,)).fetchone(),
                         ("placed",))
        self.assertEqual(self.conn.execute("SELECT stock FROM products WHERE id = %s", (self.mug,)).fetchone(),
                         (1,))

    def test_out_of_stock_rolls_back_the_whole_order(self):
        with self.assertRaises(service.OutOfStock):
            service.buy(self.ada, [(self.mug, 5)])
        self.assertEqual(self.conn.execute("SELECT count(*) FROM orders").fetchone(), (0,))
        self.assertEqual(self.conn.execute("SELECT stock FROM products WHERE id = %s", (self.mug,)).fetchone(),
                         (3,), "the stock of setUpTestData is untouched")

    def test_a_rollback_undoes_only_the_service_work(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('test@example.com', 'made by the test')")
        self.assertFalse(service.rename_user_safely(self.ada, "  "))
        names = self.conn.execute("SELECT name FROM users ORDER BY email").fetchall()
        self.assertEqual(names, [("Ada",), ("made by the test",)])

    def test_the_stock_is_back_after_the_buying_test(self):
        self.assertEqual(self.conn.execute("SELECT stock FROM products WHERE id = %s", (self.mug,)).fetchone(),
                         (3,))
