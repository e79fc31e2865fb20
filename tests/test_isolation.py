"""Savepoint isolation on a real server: tests never see each other's data."""

import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cases import isolation
from tests.support import admin_connection, run_suite, suite_of, users_in_database


class IsolationTests(unittest.TestCase):
    def test_rows_of_one_test_are_invisible_to_the_next_in_both_orders(self):
        for order in (("test_a", "test_b"), ("test_b", "test_a")):
            with self.subTest(order=order):
                result = run_suite(suite_of(isolation.InsertsSameRow, *order))
                self.assertEqual((result.testsRun, len(result.failures), len(result.errors)), (2, 0, 0),
                                 result.output)
        self.assertEqual(users_in_database(), [])

    def test_setuptestdata_rows_are_seen_by_every_test_and_gone_after_the_class(self):
        result = run_suite(suite_of(isolation.SharedData))
        self.assertTrue(result.wasSuccessful(), result.output)
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(users_in_database(), [])

    def test_an_error_mid_transaction_does_not_break_the_next_test(self):
        result = run_suite(suite_of(isolation.BreaksTransaction))
        self.assertEqual(len(result.errors), 1, result.output)
        self.assertIn("UniqueViolation", result.errors[0][1])
        self.assertEqual(result.errors[0][0].id().rsplit(".", 1)[1], "test_a_unique_violation_uncaught")
        self.assertEqual(len(result.failures), 0, result.output)

    def test_nested_transaction_blocks_are_savepoints(self):
        result = run_suite(suite_of(isolation.NestedTransactions))
        self.assertTrue(result.wasSuccessful(), result.output)
        self.assertEqual(users_in_database(), [])


class CommitGuardTests(unittest.TestCase):
    def tearDown(self):
        with admin_connection() as conn:
            conn.execute("DELETE FROM users WHERE email = 'hidden@example.org'")

    def run_case(self, name):
        return run_suite(suite_of(isolation.TriesToCommit, name))

    def test_commit_raises_isolation_error_and_nothing_is_committed(self):
        for name in ("test_commit_method", "test_raw_commit", "test_autocommit"):
            with self.subTest(name=name):
                result = self.run_case(name)
                self.assertEqual(len(result.errors), 1, result.output)
                self.assertIn("IsolationError", result.errors[0][1])
                self.assertIn("rolls it back", result.errors[0][1])
        self.assertEqual(users_in_database(), [])

    def test_commit_hidden_in_a_multi_statement_query_is_reported(self):
        result = run_suite(suite_of(isolation.TriesToCommit, "test_hidden_commit", "test_z_after_hidden_commit"))
        self.assertEqual(len(result.errors), 1, result.output)
        self.assertIn("ended the transaction that isolates it", result.errors[0][1])
        self.assertIn("cloned the test database again", result.errors[0][1])
        self.assertEqual(len(result.failures), 0, result.output)
        self.assertEqual(users_in_database(), [], "what the hidden COMMIT persisted is gone")


class AsyncTestTests(unittest.TestCase):
    def test_an_async_def_test_fails_and_says_how_to_write_it(self):
        result = run_suite(suite_of(isolation.HasAsyncTest))
        self.assertEqual(len(result.errors), 1, result.output)
        self.assertIn("is an 'async def' test", result.errors[0][1])
        self.assertIn("tddkit.AsyncTDDTestCase", result.errors[0][1])


if __name__ == "__main__":
    unittest.main()
