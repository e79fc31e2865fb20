"""Tests whose costs are known, for checking the recorded metrics."""

import time
import unittest

import tddkit

KEPT = []  # memory a test allocates and keeps, so RSS stays grown


class Measured(tddkit.TDDTestCase):
    def test_sleeps_50ms(self):
        time.sleep(0.05)

    def test_runs_three_statements(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('m@example.org', 'm')")
        self.conn.execute("UPDATE users SET name = 'n'")
        self.assertEqual(self.conn.execute("SELECT name FROM users").fetchone(), ("n",))

    def test_keeps_20mb(self):
        KEPT.append(b"x" * (20 * 2**20))

    def test_fails(self):
        self.assertEqual(1, 2)

    def test_errors(self):
        self.conn.execute("SELECT * FROM no_such_table")

    @unittest.skip("shows a skip in the reports")
    def test_skipped(self):
        pass
