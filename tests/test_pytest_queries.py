"""The ``tddkit_queries`` fixture: TDDTestCase's query assertions in pytest tests, on a real server."""

import re
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_pytest_plugin import HAVE_SQLALCHEMY, PytestProject, output


def failure(out: str, test: str) -> str:
    """The failure section pytest printed for ``test`` ("" if none)."""
    found = re.search(rf"_+ {test} _+\n(.*?)(?=\n_{{3,}} |\n=+ )", out, re.DOTALL)
    return found.group(1) if found else ""


@unittest.skipUnless(HAVE_SQLALCHEMY, "needs SQLAlchemy")
class QueriesFixtureTests(unittest.TestCase):
    def test_counts_and_plans_and_failures_that_list_the_statements_or_the_plan_at_the_tests_line(self):
        done = PytestProject(self, "queries").pytest("-rA", shared_server=True)
        out = output(done)
        self.assertIn("4 failed, 2 passed", done.stdout, out)
        # tddkit_conn, tddkit_pool and SQLAlchemy counted; tddkit's savepoints and the plans' EXPLAIN not
        self.assertIn("PASSED test_queries.py::test_counts_the_conn_the_pool_and_sqlalchemy_not_tddkits_savepoints",
                      out)
        self.assertIn("PASSED test_queries.py::test_plans", out)
        text = failure(out, "test_fails_too_many")
        # the test's own line (Python 3.13 marks the expression under it with ^^^)
        self.assertRegex(text, r">       with tddkit_queries.assert_num\(1\):\n(\s+\^+\n)?E       Failed: ")
        self.assertIn("E       Failed: 2 queries executed, 1 expected\n"
                      "E       Queries:\n"
                      "E         1. INSERT INTO users (email, name) VALUES ('a@example.org', 'a')\n"
                      "E         2. SELECT name FROM users WHERE email = 'a@example.org'\n", text, out)
        self.assertNotIn("query_checks.py", text)
        self.assertIn("E       Failed: 2 queries executed, at most 1 expected\nE       Queries:\n"
                      "E         1. SELECT 1 AS first_statement\nE         2. SELECT 2 AS second_statement\n",
                      failure(out, "test_fails_over_the_limit"), out)
        text = failure(out, "test_fails_no_index")
        self.assertIn("E       Failed: the query does not use index 'users_email_key' to find its rows", text, out)
        self.assertRegex(text, r"E       Plan \(enable_seqscan = off\):\nE         Seq Scan on users ")
        text = failure(out, "test_fails_seq_scan")
        self.assertIn("E       Failed: the query reads all of table 'users' even with sequential scans discouraged "
                      "(Seq Scan)", text, out)
        self.assertNotIn("plans.py", text)


if __name__ == "__main__":
    unittest.main()
