"""Tests that fail on purpose, for test_tracebacks (not collected: no test_ prefix)."""

import unittest

import tddkit


def check_positive(value):
    assert value > 0  # HELPER LINE


class Fails(tddkit.TDDTestCase):
    def test_assert_equal(self):
        self.assertEqual(1, 2)  # ASSERT EQUAL LINE

    def test_helper(self):
        check_positive(-1)  # HELPER CALL LINE

    def test_database_error(self):
        self.conn.execute("SELECT * FROM no_such_table")  # DATABASE ERROR LINE

    def test_num_queries(self):
        with self.assertNumQueries(0):  # NUM QUERIES LINE
            self.conn.execute("SELECT 1")


class PlainFails(unittest.TestCase):
    """The same failure in a plain unittest.TestCase: the shape tddkit's must match."""

    def test_assert_equal(self):
        self.assertEqual(1, 2)  # ASSERT EQUAL LINE
