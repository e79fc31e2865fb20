"""State a test makes that a rollback does not undo: PREPAREd statements, tddkit's savepoint name, threads,
a hidden PREPARE TRANSACTION. The next test starts clean, or the test that did it fails saying why."""

import unittest

import psycopg

import tddkit
from tests.cases import faults
from tests.support import CLEAN, ROOT, database_state, problems_by_name, run_cli, run_suite, suite_of


class StateLeakTests(unittest.TestCase):
    def test_prepared_statements_are_deallocated_after_each_test_and_class(self):
        result = run_suite(unittest.TestSuite([suite_of(faults.PreparesStatements),
                                               suite_of(faults.PreparesAgainInAnotherClass)]))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 10)

    def test_session_advisory_locks_a_test_takes_are_free_in_the_next_test(self):
        result = run_suite(unittest.TestSuite([suite_of(faults.LocksThroughThePool),
                                               suite_of(faults.LocksInSetUpTestData),
                                               suite_of(faults.LocksTheClassHeld)]))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 7)
        self.assertEqual(database_state(), CLEAN)

    def test_the_tddkit_savepoint_name_is_refused_and_nothing_leaks(self):
        result = run_suite(suite_of(faults.UsesTddkitSavepointName))
        errors = problems_by_name(result)
        self.assertEqual(list(errors), ["test_a_sets_tddkit_test"], result.output)
        self.assertIn("savepoints named tddkit_* are tddkit's own", errors["test_a_sets_tddkit_test"][0])
        self.assertEqual(database_state(), CLEAN)

    def test_a_thread_left_running_fails_its_test_and_cannot_write_into_the_next(self):
        result = run_suite(suite_of(faults.LeavesThreadRunning))
        errors = problems_by_name(result)
        self.assertEqual(sorted(errors), ["test_a_starts_a_late_writer", "test_c_thread_mid_query_at_the_end"],
                         result.output)
        self.assertIn("the test left thread 'late-writer' running", errors["test_a_starts_a_late_writer"][0])
        mid_query = errors["test_c_thread_mid_query_at_the_end"][0]
        self.assertIn("the test left thread 'slow-query' running", mid_query)
        self.assertNotIn("COPY", mid_query)
        self.assertEqual(database_state(), CLEAN)

    def test_a_hidden_prepare_transaction_leaves_nothing_on_the_server(self):
        server_dsn = tddkit.get_session().server_dsn
        done = run_cli(["run", "tests.cases.faults.HidesPrepareTransaction", "--no-report", "--dsn", server_dsn],
                       cwd=ROOT)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("ended the transaction that isolates it", done.stderr)
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            self.assertEqual(admin.execute("SELECT gid FROM pg_prepared_xacts").fetchall(), [])
            left = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tddkit\\_%%' AND datname "
                                 "NOT LIKE 'tddkit\\_tpl%%' AND datname <> %s",
                                 (tddkit.get_session()._database.name,)).fetchall()
        self.assertEqual(left, [])


if __name__ == "__main__":
    unittest.main()
