"""Small tests for runs of many: cheap database tests, and one that stops the run (Ctrl-C)."""

import unittest

import tddkit


class Cheap(tddkit.TDDTestCase):
    def test_0(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('c@example.org', 'c')")

    def test_1(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))

    def test_2(self):
        pass


class Interrupts(tddkit.TDDTestCase):
    def test_interrupts(self):
        raise KeyboardInterrupt


class Mixed(tddkit.TDDTestCase):
    """One test of each outcome."""

    def test_passes(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('m@example.org', 'm')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (1,))

    def test_fails(self):
        self.assertEqual(1, 2)

    def test_errors(self):
        self.conn.execute("SELECT * FROM no_such_table")

    @unittest.skip("shows a skip <in> the reports & files")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (2,))

    def test_subtests(self):
        for i in range(2):
            with self.subTest(i=i):
                self.assertEqual(i, 0)
