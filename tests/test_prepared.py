"""Prepared statements on test connections: kept from test to test, and never left planned for a schema that a
test's DDL, SET or rollback changed."""

import unittest

import tddkit
from tests.cases import prepared
from tests.support import child_env, problems_by_name, run_cli, run_suite, suite_of


class PreparedStatementTests(unittest.TestCase):
    def test_a_statement_prepared_in_one_test_is_used_in_the_next(self):
        result = run_suite(suite_of(prepared.KeepsPrepared))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 2)

    def test_ddl_and_set_within_a_test_and_their_rollback_leave_no_stale_plan(self):
        result = run_suite(unittest.TestSuite([suite_of(prepared.ChangesTheSchema), suite_of(prepared.RecreatesATable),
                                               suite_of(prepared.KeepsPrepared)]))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 8)

    def test_the_after_test_statement_is_prepared_once_and_again_after_a_deallocation(self):
        result = run_suite(unittest.TestSuite([suite_of(prepared.AfterTestStatement),
                                               suite_of(prepared.PsycopgDeallocatesAll)]))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 7)

    def test_a_hidden_schema_change_fails_one_test_saying_why_and_the_next_runs_clean(self):
        result = run_suite(suite_of(prepared.HiddenSchemaChange))
        problems = problems_by_name(result)
        self.assertEqual(list(problems), ["test_b_wide"], result.output)
        self.assertIn("cached plan must not change result type", problems["test_b_wide"][0])
        self.assertIn("set prepare_threshold = 0", problems["test_b_wide"][0])

    def test_prepare_threshold_0_prepares_nothing(self):
        done = run_cli(["run", "tests.cases.prepared.NeverPrepares", "--no-report", "--dsn",
                        tddkit.get_session().server_dsn], env=child_env(TDDKIT_PREPARE_THRESHOLD="0"))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("tddkit: 2 passed, 0 failed", done.stderr)

    def test_a_negative_prepare_threshold_is_one_line_and_exit_2(self):
        done = run_cli(["run", "tests.cases.prepared.NeverPrepares", "--no-report"],
                       env=child_env(TDDKIT_PREPARE_THRESHOLD="-1"))
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
        self.assertIn("prepare_threshold", done.stderr)


if __name__ == "__main__":
    unittest.main()
