"""Query checks on the shop's service layer: an N+1 caught, its fix, and a plan that uses the index.

``order_totals_one_by_one`` looks up each order's total in a query of its
own: 12 orders, 13 statements. ``assertMaxQueries`` catches it here, and
tddkit's N+1 detection lists it in the run's report ("Repeated statements
(N+1)", with the service's line) and warns with a PerformanceWarning.
``order_totals`` is the fix: one statement, whatever the number of orders.
"""

from decimal import Decimal
from unittest import mock

import tddkit

from examples import factories
from examples.shop import service

ORDERS = 12


class OrderTotalsTests(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.ada = factories.create_user(cls.conn, name="Ada")
        mug = factories.create_product(cls.conn, price=Decimal("2.50"), stock=100)
        cls.expected = []
        for quantity in range(1, ORDERS + 1):
            order = factories.create_order(cls.conn, cls.ada)
            factories.add_item(cls.conn, order, mug, quantity=quantity)
            cls.expected.append((order, Decimal("2.50") * quantity))

    def setUp(self):
        patcher = mock.patch("examples.shop.db.pool", self.pool)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_one_lookup_per_order_is_caught(self):
        """The N+1: more statements than orders (the report lists it under "Repeated statements")."""
        with self.assertRaises(self.failureException) as caught:
            with self.assertMaxQueries(2):
                totals = service.order_totals_one_by_one(self.ada)
        self.assertEqual(totals, self.expected)
        self.assertIn(f"{ORDERS + 1} queries executed, at most 2 expected", str(caught.exception))

    def test_the_fix_is_one_statement(self):
        with self.assertMaxQueries(1):
            totals = service.order_totals(self.ada)
        self.assertEqual(totals, self.expected)

    def test_orders_are_found_through_the_user_index(self):
        """On a realistic table: tddkit discourages sequential scans for the plan (12 rows would not need it)."""
        query = "SELECT id FROM orders WHERE user_id = %s ORDER BY id"
        self.assertUsesIndex(query, (self.ada,), "orders_user_id_status_idx")
        self.assertNoSeqScan(query, (self.ada,), "orders")
