"""The runner records real numbers and writes JSON and JUnit XML that tools can read."""

import json
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cases import measured
from tests.support import child_env, run_cli, run_suite, suite_of


class MeasuredRun:
    """One run of the measured suite with both output files, shared by the tests below."""

    result = None

    @classmethod
    def get(cls):
        if cls.result is None:
            cls.tmp = tempfile.TemporaryDirectory()
            cls.json_path = os.path.join(cls.tmp.name, "out", "metrics.json")
            cls.junit_path = os.path.join(cls.tmp.name, "junit.xml")
            cls.result = run_suite(suite_of(measured.Measured), show_report=True,
                                   json_path=cls.json_path, junit_path=cls.junit_path)
            measured.KEPT.clear()
            cls.metrics = {m.test_id.rsplit(".", 1)[1]: m for m in cls.result.test_metrics}
        return cls


class RecordedNumbersTests(unittest.TestCase):
    def setUp(self):
        self.run = MeasuredRun.get()

    def test_a_50ms_sleep_shows_a_body_of_at_least_50ms(self):
        body = self.run.metrics["test_sleeps_50ms"].body_ms
        self.assertGreaterEqual(body, 50.0)
        self.assertLess(body, 1000.0)
        self.assertGreaterEqual(self.run.metrics["test_sleeps_50ms"].total_ms, body)

    def test_three_statements_count_three(self):
        m = self.run.metrics["test_runs_three_statements"]
        self.assertEqual(m.query_count, 3)
        self.assertGreater(m.query_ms, 0.0)
        self.assertEqual(m.outcome, "passed")

    def test_keeping_20mb_shows_the_memory_warning(self):
        m = self.run.metrics["test_keeps_20mb"]
        self.assertGreaterEqual(m.memory_delta, 19 * 2**20)
        report = self.run.result.output
        warnings = report.split("Memory warnings", 1)[1].split("\n\n", 1)[0]
        self.assertRegex(warnings, r"test_keeps_20mb\s+(19|20)\.\d+")
        self.assertNotIn("test_sleeps_50ms", warnings)

    def test_outcomes(self):
        outcomes = {name: m.outcome for name, m in self.run.metrics.items()}
        self.assertEqual(outcomes["test_fails"], "failed")
        self.assertEqual(outcomes["test_errors"], "error")
        self.assertEqual(outcomes["test_skipped"], "skipped")

    def test_class_setup_is_recorded_once_per_class(self):
        classes = {id(m.class_metrics) for m in self.run.result.test_metrics if m.class_metrics}
        self.assertEqual(len(classes), 1)
        self.assertGreater(self.run.metrics["test_fails"].class_metrics.connection_ms, 0.0)


class OutputFileTests(unittest.TestCase):
    def setUp(self):
        self.run = MeasuredRun.get()

    def test_json_holds_one_entry_per_test(self):
        with open(self.run.json_path) as fh:
            data = json.load(fh)
        self.assertEqual(len(data["tests"]), 6)
        self.assertEqual({t["test_id"].rsplit(".", 1)[1] for t in data["tests"]}, set(self.run.metrics))
        self.assertEqual(data["summary"]["failed"], 1)
        self.assertEqual(data["summary"]["errors"], 1)
        for key in ("connection_ms", "setup_ms", "body_ms", "cleanup_ms", "total_ms", "query_count", "memory_delta"):
            self.assertIn(key, data["tests"][0])
        self.assertIn("individual_test", data["metrics"])

    def test_junit_xml_has_one_testcase_per_test_with_failures_marked(self):
        root = ET.parse(self.run.junit_path).getroot()
        cases = root.findall(".//testcase")
        self.assertEqual(len(cases), 6)
        by_name = {c.get("name"): c for c in cases}
        self.assertIsNotNone(by_name["test_fails"].find("failure"))
        self.assertIsNotNone(by_name["test_errors"].find("error"))
        self.assertIsNotNone(by_name["test_skipped"].find("skipped"))
        self.assertIsNone(by_name["test_sleeps_50ms"].find("failure"))
        self.assertGreaterEqual(float(by_name["test_sleeps_50ms"].get("time")), 0.05)
        suite = root.find("testsuite")
        self.assertEqual((suite.get("tests"), suite.get("failures"), suite.get("errors")), ("6", "1", "1"))


class CommandLineTests(unittest.TestCase):
    def test_examples_print_result_lines_and_the_report(self):
        done = run_cli(["run", "examples", "-k", "Constraint"])
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Ran ", done.stderr)
        self.assertIn("OK", done.stderr)
        self.assertIn("tddkit performance report", done.stderr)
        self.assertIn("fixture_setup", done.stderr)
        self.assertRegex(done.stderr.strip().splitlines()[-1], r"^tddkit: \d+ passed, 0 failed$")

    def test_failures_give_exit_code_1(self):
        done = run_cli(["run", "tests/cases/measured.py", "-k", "test_fails", "--no-report"])
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("FAILED (failures=1)", done.stderr)
        self.assertNotIn("tddkit performance report", done.stderr)

    def test_repeat_counts_every_run_in_the_closing_line(self):
        done = run_cli(["run", "tests/cases/flaky.py", "--repeat", "2", "--no-report"])
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertEqual(done.stderr.strip().splitlines()[-1], "tddkit: 1 passed, 1 failed (2 runs)")

    def test_no_tests_found_is_exit_code_5(self):
        done = run_cli(["run", "tests/cases/measured.py", "-k", "no_such_test"])
        self.assertEqual(done.returncode, 5, done.stderr)

    def test_unknown_option_is_a_usage_error(self):
        done = run_cli(["run", "--no-such-option"])
        self.assertEqual(done.returncode, 2)
        self.assertIn("unrecognized arguments", done.stderr)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)

    def test_bad_dsn_is_one_line_and_exit_2(self):
        done = run_cli(["run", "tests/cases/trivial.py", "--dsn", "host=127.0.0.1 port=1 user=x dbname=y"],
                       env=child_env())
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertNotIn("Traceback", done.stderr)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
        self.assertIn("cannot connect to PostgreSQL", done.stderr)


class ProgressTests(unittest.TestCase):
    def test_a_terminal_gets_a_progress_line_and_ci_logs_do_not(self):
        import pty
        import subprocess
        import sys

        from tests.support import ROOT

        def run(env):
            main, child = pty.openpty()
            done = subprocess.run([sys.executable, "-m", "tddkit", "run", "tests/cases/trivial.py", "--no-report"],
                                  cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=child, stderr=child,
                                  timeout=120)
            os.close(child)
            output = b""
            while True:
                try:
                    chunk = os.read(main, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            os.close(main)
            return done.returncode, output.decode(errors="replace")

        env = {k: v for k, v in child_env().items() if k != "CI"}
        code, output = run(env)
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"\r  2/2 tests 100\.0%  0 failed")
        code, output = run({**env, "CI": "true"})
        self.assertEqual(code, 0, output)
        self.assertNotIn("2/2 tests", output)


if __name__ == "__main__":
    unittest.main()
