"""A failing TDDTestCase shows the test's own file and lines, as plain unittest does, never tddkit's hooks."""

import re
import subprocess
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import ROOT, child_env, run_cli

CASES = ROOT / "tests" / "cases" / "failing.py"


def line_of(marker: str) -> int:
    """The line number of the line in failing.py that carries ``marker``."""
    for number, line in enumerate(CASES.read_text().splitlines(), 1):
        if marker in line:
            return number
    raise AssertionError(marker)


def traceback_of(output: str, test: str) -> str:
    """The block unittest printed for ``test`` (``Fails.test_x``), from its header to the next one."""
    match = re.search(rf"^(FAIL|ERROR): \S+ \(tests\.cases\.failing\.{re.escape(test)}\)$(.*?)(?=^=====|^-+\nRan )",
                      output, re.M | re.S)
    if match is None:
        raise AssertionError(f"no traceback for {test} in:\n{output}")
    return match.group(2)


class TracebackTests(unittest.TestCase):
    outputs = {}

    @classmethod
    def setUpClass(cls):
        runs = {
            "tddkit run": run_cli(["run", str(CASES), "--no-report"]),
            "python -m unittest": subprocess.run([sys.executable, "-m", "unittest", "tests.cases.failing"], cwd=ROOT,
                                                 env=child_env(), capture_output=True, text=True, timeout=300),
        }
        for how, done in runs.items():
            assert done.returncode == 1, done.stdout + done.stderr
            cls.outputs[how] = done.stderr

    def assert_shows(self, test: str, *markers: str) -> str:
        for how, output in self.outputs.items():
            with self.subTest(runner=how):
                text = traceback_of(output, test)
                for marker in markers:
                    self.assertIn(f'File "{CASES}", line {line_of(marker)}', text)
                self.assertNotIn(str(Path("tddkit", "case.py")), text)
                self.assertNotIn("_callTestMethod", text)
        return text

    def test_assert_equal_shows_the_test_line_and_message(self):
        text = self.assert_shows("Fails.test_assert_equal", "ASSERT EQUAL LINE")
        self.assertIn("AssertionError: 1 != 2", text)

    def test_failure_in_a_helper_shows_the_call_and_the_helper_line(self):
        text = self.assert_shows("Fails.test_helper", "HELPER CALL LINE", "HELPER LINE")
        self.assertIn("assert value > 0", text)

    def test_database_error_shows_the_test_line(self):
        text = self.assert_shows("Fails.test_database_error", "DATABASE ERROR LINE")
        self.assertIn('relation "no_such_table" does not exist', text)

    def test_assert_num_queries_points_at_the_with_statement(self):
        text = self.assert_shows("Fails.test_num_queries", "NUM QUERIES LINE")
        self.assertIn("1 queries executed, 0 expected", text)

    def test_same_shape_as_plain_unittest(self):
        for how, output in self.outputs.items():
            with self.subTest(runner=how):
                ours = traceback_of(output, "Fails.test_assert_equal")
                plain = traceback_of(output, "PlainFails.test_assert_equal")
                self.assertEqual(re.sub(r"line \d+", "line N", ours), re.sub(r"line \d+", "line N", plain))


if __name__ == "__main__":
    unittest.main()
