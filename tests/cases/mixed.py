"""Passing, failing, erroring and skipped tests in several classes, for parallel-vs-serial checks."""

import unittest

import tddkit


class Passing(tddkit.TDDTestCase):
    def test_insert(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('p@example.org', 'p')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (1,))

    def test_select(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))


class Failing(tddkit.TDDTestCase):
    def test_fails(self):
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (2,))

    def test_errors(self):
        self.conn.execute("SELECT no_such_column FROM users")

    @unittest.skip("skipped on purpose")
    def test_skipped(self):
        pass


class SharedRows(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("INSERT INTO users (email, name) VALUES ('s@example.org', 's')")

    def test_sees_class_row(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (1,))

    def test_sees_class_row_again(self):
        self.assertEqual(self.conn.execute("SELECT name FROM users").fetchone(), ("s",))


class BrokenSetUpClass(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        raise RuntimeError("class fixture broken on purpose")

    def test_never_runs(self):
        pass
