"""The shop tested the pytest way: fixtures instead of a TestCase class.

Run with ``pytest examples/test_pytest_style.py --tddkit-report``. Each test
runs in a savepoint rolled back after it; ``customer`` is made once for the
module through ``tddkit_module_conn`` and is gone after the module.
"""

import unittest
from decimal import Decimal
from unittest import mock

try:
    import pytest
except ImportError:  # unittest discovery (python -m tddkit run examples) imports this module too
    raise unittest.SkipTest("pytest is not installed (pip install 'tddkit[pytest]')") from None

from examples.factories import add_item, create_order, create_product, create_user
from examples.shop import service


@pytest.fixture(scope="module")
def customer(tddkit_module_conn):
    """One customer with a cart of 2 mugs, shared by every test of this module."""
    user_id = create_user(tddkit_module_conn, "pat@example.com", "Pat")
    mug = create_product(tddkit_module_conn, "Mug", Decimal("2.50"), stock=5)
    cart = create_order(tddkit_module_conn, user_id)
    add_item(tddkit_module_conn, cart, mug, quantity=2)
    return {"id": user_id, "mug": mug, "cart": cart}


@pytest.fixture
def shop_pool(tddkit_pool):
    """The application's module-level pool, replaced by the test's for the test."""
    with mock.patch("examples.shop.db.pool", tddkit_pool):
        yield tddkit_pool


def test_cart_total(tddkit_conn, customer):
    total = tddkit_conn.execute("SELECT total FROM order_totals WHERE order_id = %s", (customer["cart"],)).fetchone()
    assert total == (Decimal("5.00"),)


def test_placing_the_cart_takes_stock(tddkit_conn, customer):
    tddkit_conn.execute("SELECT place_order(%s)", (customer["cart"],))
    assert tddkit_conn.execute("SELECT stock FROM products WHERE id = %s", (customer["mug"],)).fetchone() == (3,)


def test_stock_is_back_for_the_next_test(tddkit_conn, customer):
    assert tddkit_conn.execute("SELECT stock FROM products WHERE id = %s", (customer["mug"],)).fetchone() == (5,)


def test_the_service_layer_commits_inside_the_test(tddkit_conn, customer, shop_pool):
    order_id = service.buy(customer["id"], [(customer["mug"], 1)])
    status = tddkit_conn.execute("SELECT status::text FROM orders WHERE id = %s", (order_id,)).fetchone()
    assert status == ("placed",)


def test_one_query_for_the_totals(tddkit_conn, customer):
    with tddkit_conn.capture_queries() as queries:
        tddkit_conn.execute("SELECT * FROM order_totals WHERE user_id = %s", (customer["id"],)).fetchall()
    assert len(queries) == 1
