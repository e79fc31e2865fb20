"""N+1 detection without false alarms, on a real server: catalog lookups and the statements of fixtures, setUp and
tearDown are not a test's repeats, a repeat in the test body is caught at the body's line, and no tddkit warning
turns a passing test into an error (pytest's ``filterwarnings = error``, ``python -W error``): it is an alert."""

import json
import os
import sys
import tempfile
import unittest
import warnings
from pathlib import Path
from types import SimpleNamespace

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tests.cases import queries as cases
from tests.support import child_env, run_cli, run_suite, suite_of
from tests.test_pytest_plugin import HAVE_SQLALCHEMY, PROJECT_FILES, PytestProject, output
from tests.test_queries import CASES, LOOKUP, line_of

#: pytest's warnings as errors, as many projects configure it, and a custom metric's threshold.
STRICT = '[tool.tddkit.thresholds]\nrender_ms = 10\n[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'
MODULE = "test_false_alarms.py"


def catalog_shapes(data: dict) -> list:
    """The statement shapes of a run's JSON that read the catalogs."""
    return [s for s in data["statements"] if "pg_catalog." in s["statement"] or "information_schema." in
            s["statement"] or " pg_type " in s["statement"]]


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class PytestFalseAlarmTests(unittest.TestCase):
    """One pytest run of tests/pytest_project/false_alarms.py with ``filterwarnings = error``."""

    @classmethod
    def setUpClass(cls):
        project = PytestProject(SimpleNamespace(addCleanup=cls.addClassCleanup), "false_alarms", config=STRICT)
        path = project.root / "metrics.json"
        cls.done = project.pytest("-rA", "-p", "no:asyncio", f"--tddkit-json={path}", shared_server=True)
        cls.data = json.loads(path.read_text()) if path.exists() else {}
        cls.tests = {t["test_id"].split("::")[1]: t for t in cls.data.get("tests", ())}

    def outcome(self, name: str) -> tuple:
        test = self.tests.get(name, {})
        return test.get("outcome"), tuple(test.get("repeated_statements", ()))

    def test_the_run_passes(self):
        self.assertEqual(self.done.returncode, 0, output(self.done))
        self.assertIn("5 passed", self.done.stdout)
        self.assertNotIn("error", self.done.stdout.splitlines()[-1])

    def test_catalog_lookups_are_no_n_plus_one(self):
        self.assertEqual(self.outcome("test_catalog_lookups_in_the_body"), ("passed", ()), output(self.done))
        shapes = [s for s in catalog_shapes(self.data) if "test_catalog_lookups_in_the_body" in str(s["tests"])]
        self.assertTrue(any(s["calls"] >= 12 for s in shapes), shapes)  # one lookup per table, of each kind

    def test_statements_of_fixtures_are_no_n_plus_one(self):
        for name in ("test_tables_made_by_a_fixture", "test_statements_repeated_by_a_fixture"):
            self.assertEqual(self.outcome(name), ("passed", ()), output(self.done))
        lookups = next(s for s in self.data["statements"] if s["statement"] == LOOKUP)
        self.assertIn(f"{MODULE}::test_statements_repeated_by_a_fixture", lookups["tests"])

    def test_a_repeat_in_the_body_is_an_alert_at_the_bodys_line(self):
        line = line_of("# the body's line", PROJECT_FILES / "false_alarms.py")
        kind, [found] = self.outcome("test_a_genuine_n_plus_one")
        self.assertEqual((kind, found["calls"], found["line"], found["function"]),
                         ("passed", 11, line, "test_a_genuine_n_plus_one"), output(self.done))
        self.assertIn(f"{MODULE}:{line}: PerformanceWarning: warning: n_plus_one: one statement ran 11 times in "
                      f"{MODULE}::test_a_genuine_n_plus_one", self.done.stdout)
        alerts = sorted((a["metric"], a["test_id"].split("::")[1]) for a in self.data["alerts"]
                        if a["metric"] in ("n_plus_one", "render_ms"))
        self.assertEqual(alerts, [("n_plus_one", "test_a_genuine_n_plus_one"),
                                  ("render_ms", "test_a_metric_over_its_threshold")])

    def test_warnings_as_errors_leave_a_metric_alert_passing(self):
        self.assertEqual(self.outcome("test_a_metric_over_its_threshold"), ("passed", ()), output(self.done))
        self.assertIn("PerformanceWarning: critical: render_ms = 50 is over its threshold 10", self.done.stdout)


class PytestAlertsAsFailuresTests(unittest.TestCase):
    def test_an_n_plus_one_fails_the_test_not_its_teardown(self):
        if not HAVE_SQLALCHEMY:
            self.skipTest("SQLAlchemy is not installed")
        project = PytestProject(self, "false_alarms", config=f"alerts_as_failures = true\n{STRICT}")
        done = project.pytest("-q", "-p", "no:asyncio", "-k", "genuine or fixture", shared_server=True)
        self.assertEqual(done.returncode, 1, output(done))
        self.assertIn("1 failed, 2 passed", done.stdout)
        self.assertNotIn("error", done.stdout.splitlines()[-1])
        self.assertIn("warning: n_plus_one: one statement ran 11 times", done.stdout)


class UnittestFalseAlarmTests(unittest.TestCase):
    def run_case(self, name: str, **runner_kwargs) -> tuple:
        """Run one test of AroundTheBody: its metrics and the PerformanceWarnings it emitted."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_suite(suite_of(cases.AroundTheBody, name), **runner_kwargs)
        self.assertTrue(result.wasSuccessful(), result.output)
        [tm] = result.test_metrics
        return tm, [w for w in caught if issubclass(w.category, tddkit.PerformanceWarning)]

    def test_statements_of_setup_and_teardown_are_no_n_plus_one(self):
        tm, caught = self.run_case("test_nothing_repeated")
        self.assertEqual((tm.repeated_statements, caught), ((), []))
        calls = {shape: count for shape, count, _, _ in tm.statements}
        self.assertEqual(calls[LOOKUP], 36, "setUp's, the cleanup's and tearDown's statements are the test's")

    def test_catalog_lookups_are_no_n_plus_one(self):
        tm, caught = self.run_case("test_catalog_lookups")
        self.assertEqual((tm.repeated_statements, caught), ((), []))
        lookups = [count for shape, count, _, _ in tm.statements if "pg_catalog." in shape]
        self.assertTrue(lookups and max(lookups) >= 24, tm.statements)  # create and drop: 12 lookups each

    def test_a_repeat_in_the_body_is_caught_at_the_bodys_line(self):
        tm, caught = self.run_case("test_eleven_calls")
        line = line_of("# the body's line")
        [found] = tm.repeated_statements
        self.assertEqual((found["calls"], found["file"], found["line"]), (11, str(CASES), line))
        self.assertEqual([(w.filename, w.lineno) for w in caught], [(str(CASES), line)])

    def test_warnings_as_errors_leave_the_test_passing(self):
        tm, caught = self.run_case("test_eleven_calls", warnings="error")
        self.assertEqual(len(tm.repeated_statements), 1)
        self.assertEqual([str(w.message)[:47] for w in caught], ["warning: n_plus_one: one statement ran 11 times"])

    def test_tddkit_run_with_warnings_as_errors_reports_the_alert(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.json")
            done = run_cli(["run", "tests.cases.queries.Repeats.test_16_calls", "--json", path, "--dsn",
                            tddkit.get_session().server_dsn], env=child_env(PYTHONWARNINGS="error"))
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(path) as fh:
                data = json.load(fh)
        self.assertIn(f"queries.py:{line_of('# the N+1 line')}: PerformanceWarning: critical: n_plus_one", done.stderr)
        self.assertEqual([(a["metric"], a["value"]) for a in data["alerts"] if a["metric"] == "n_plus_one"],
                         [("n_plus_one", 16)])


if __name__ == "__main__":
    unittest.main()
