"""Statement shapes, per-test statement statistics, N+1 detection and assertMaxQueries, on a real server."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import unittest.mock
import warnings
from pathlib import Path

import tddkit
from tddkit.measure import queries
from tddkit.measure.metrics import TestMetrics
from tddkit.measure.queries import OTHER, normalise
from tddkit.reporting.statements import run_statistics
from tests.cases import queries as cases
from tests.support import ROOT, child_env, run_cli, run_suite, suite_of
from tests.test_instruments import SessionSettings

CASES = ROOT / "tests" / "cases" / "queries.py"
LOOKUP = "SELECT name FROM users WHERE id = ?"


def line_of(marker: str, path: Path = CASES) -> int:
    """The line of ``path`` holding ``marker`` (a comment in the inner suite)."""
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if marker in text)


def by_name(result):
    return {tm.test_id.rsplit(".", 1)[1]: tm for tm in result.test_metrics}


def run_recording(suite, **runner_kwargs):
    """Run an inner suite; its result and the PerformanceWarnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_suite(suite, **runner_kwargs)
    return result, [w for w in caught if issubclass(w.category, tddkit.PerformanceWarning)]


class NormaliseTests(unittest.TestCase):
    def test_literals_parameters_comments_and_whitespace(self):
        for text in ("SELECT name FROM users WHERE id = 7", "SELECT name FROM users WHERE id = %s",
                     "SELECT name\n   FROM users /* by id */ WHERE id = %(id)s;",
                     "SELECT name FROM users WHERE id = $1",
                     "SELECT name FROM users -- trailing\nWHERE id = 1.5e3"):
            self.assertEqual(normalise(text), "SELECT name FROM users WHERE id = ?", text)

    def test_strings_of_every_kind_become_one_placeholder(self):
        self.assertEqual(normalise("SELECT 'it''s', E'a\\'b', $$x 'y' 1$$, $f$ 2 $f$, B'101', 'C:\\'"),
                         "SELECT ?, ?, ?, ?, ?, ?")

    def test_identifiers_keep_their_digits_and_quoted_text(self):
        self.assertEqual(normalise('SELECT t1.c2, "col 7" FROM t1 WHERE "it\'s" = 3'),
                         'SELECT t1.c2, "col 7" FROM t1 WHERE "it\'s" = ?')

    def test_lists_and_rows_of_values_fold(self):
        self.assertEqual(normalise("SELECT * FROM t WHERE id IN (1, 2, 3)"), "SELECT * FROM t WHERE id IN (...)")
        self.assertEqual(normalise("SELECT * FROM t WHERE id IN (%s)"), "SELECT * FROM t WHERE id IN (...)")
        self.assertEqual(normalise("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (%s, %s)"),
                         "INSERT INTO t (a, b) VALUES (...), ...")

    def test_broken_sql_is_normalised_without_error(self):
        self.assertEqual(normalise("SELEC * FRM t WHERE a = 'unterminated"), "SELEC * FRM t WHERE a = ?")
        self.assertEqual(normalise('SELECT "open'), 'SELECT "open')
        self.assertEqual(normalise("/* open comment"), "")
        self.assertEqual(normalise("SELECT $tag$ never closed"), "SELECT ?")

    def test_a_huge_statement_is_cut(self):
        shape = normalise("SELECT " + ", ".join(f"col{i}" for i in range(5000)))
        self.assertLessEqual(len(shape), queries.MAX_SHAPE_CHARS + 2)
        self.assertTrue(shape.endswith(" …"))

    def test_the_shape_cache_stays_bounded(self):
        for number in range(queries._CACHE_SIZE + 50):
            queries.shape_of(f"SELECT {number} FROM cache_test")
        self.assertLessEqual(len(queries._shapes), queries._CACHE_SIZE)
        self.assertEqual(queries.shape_of(b"SELECT 1 FROM cache_test"), "SELECT ? FROM cache_test")


    def test_a_composed_query_is_normalised_once_per_text(self):
        """psycopg.sql objects are not hashable: their shape is cached by their text (normalising a 5-column
        CREATE TABLE is 25 us, composing it 3 us)."""
        from psycopg import sql

        query = sql.SQL("SELECT {} FROM {} WHERE id = {}").format(
            sql.Identifier("name"), sql.Identifier("composed_cache_test"), sql.Literal(7))
        calls = []

        def counted(text):
            calls.append(text)
            return normalise(text)

        with unittest.mock.patch.object(queries, "normalise", counted):
            shapes = {queries.shape_of(query) for _ in range(3)}
        self.assertEqual(shapes, {'SELECT "name" FROM "composed_cache_test" WHERE id = ?'})
        self.assertEqual(len(calls), 1)


class StatementStatisticsTests(unittest.TestCase):
    def test_statements_differing_only_in_literals_or_parameters_share_a_shape(self):
        result = run_suite(suite_of(cases.Shapes, "test_literals_and_parameters_share_a_shape"))
        self.assertTrue(result.wasSuccessful(), result.output)
        [tm] = result.test_metrics
        calls = {shape: count for shape, count, _, _ in tm.statements}
        self.assertEqual(calls, {LOOKUP: 4, "SELECT count(*) FROM users WHERE email IN (...)": 2})
        self.assertEqual(tm.query_count, 6)
        self.assertTrue(all(total >= longest > 0 for _, _, total, longest in tm.statements), tm.statements)

    def test_a_statement_with_a_syntax_error_counts_and_has_a_shape(self):
        result = run_suite(suite_of(cases.Shapes, "test_a_statement_with_a_syntax_error_counts"))
        self.assertTrue(result.wasSuccessful(), result.output)
        [tm] = result.test_metrics
        self.assertEqual((tm.query_count, [s[:2] for s in tm.statements]),
                         (1, [("SELEC name FROM users WHERE email = ?", 1)]))

    def test_distinct_statements_beyond_the_limit_count_as_other(self):
        result = run_suite(suite_of(cases.Shapes, "test_many_distinct_statements"))
        [tm] = result.test_metrics
        self.assertEqual(len(tm.statements), queries.MAX_SHAPES_PER_TEST + 1)
        self.assertEqual(tm.statements[-1][:2], (OTHER, 300 - queries.MAX_SHAPES_PER_TEST))
        self.assertEqual(sum(s[1] for s in tm.statements), 300)
        self.assertEqual(tm.repeated_statements, (), "OTHER is not one statement: never an N+1")

    def test_the_run_keeps_its_top_shapes_and_folds_the_rest(self):
        tests = [TestMetrics(f"m.T.test_{i}", statements=((f"SELECT {i}", 1, float(i), float(i)),
                                                        ("SELECT shared", 2, 0.25, 0.2))) for i in range(6)]
        stats = run_statistics(tests, keep=3)
        self.assertEqual([s.statement for s in stats], ["SELECT 5", "SELECT 4", "SELECT 3", OTHER])
        other = stats[-1]
        self.assertEqual((other.calls, other.total_ms, other.max_ms, other.test_count), (15, 4.5, 2.0, 6))
        self.assertEqual(stats[0].tests, ["m.T.test_5"])
        shared = next(s for s in run_statistics(tests) if s.statement == "SELECT shared")
        self.assertEqual((shared.statement, shared.calls, shared.test_count, shared.mean_ms),
                         ("SELECT shared", 12, 6, 0.125))

    def test_report_and_json_list_the_shapes_without_tddkits_own_statements(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.json")
            result = run_suite(suite_of(cases.Shapes), show_report=True, json_path=path)
            with open(path) as fh:
                data = json.load(fh)
        self.assertIn("Slowest 5 statements (by total time)", result.output)
        shapes = {entry["statement"]: entry for entry in data["statements"]}
        self.assertEqual(shapes[LOOKUP]["calls"], 4)
        self.assertEqual(shapes[LOOKUP]["tests"],
                         ["tests.cases.queries.Shapes.test_literals_and_parameters_share_a_shape"])
        self.assertEqual(set(shapes[LOOKUP]), {"statement", "calls", "total_ms", "mean_ms", "max_ms", "test_count",
                                               "tests"})
        self.assertEqual(shapes[OTHER]["calls"], 300 - queries.MAX_SHAPES_PER_TEST)
        self.assertFalse([s for s in shapes if "SAVEPOINT" in s.upper() or "ROLLBACK" in s.upper()], list(shapes))
        self.assertNotIn("statements", data["tests"][0], "per-test shapes stay out of the tests list")


class RepeatedStatementTests(unittest.TestCase):
    def test_an_n_plus_one_names_the_statement_and_the_application_line(self):
        result, caught = run_recording(suite_of(cases.Repeats))
        self.assertTrue(result.wasSuccessful(), result.output)
        tests = by_name(result)
        self.assertEqual(tests["test_9_calls"].repeated_statements, ())
        line = line_of("# the N+1 line")
        for name, calls, severity in (("test_10_calls", 10, "warning"), ("test_16_calls", 16, "critical")):
            [found] = tests[name].repeated_statements
            self.assertEqual(found, {"statement": LOOKUP, "calls": calls, "threshold": 10, "severity": severity,
                                     "file": str(CASES), "line": line, "function": "lookup_each"})
        self.assertEqual(sorted((w.filename, w.lineno) for w in caught), [(str(CASES), line)] * 2)
        message = str(next(w.message for w in caught if "16 times" in str(w.message)))
        self.assertTrue(message.startswith("critical: n_plus_one: one statement ran 16 times in "
                                           "tests.cases.queries.Repeats.test_16_calls"), message)
        self.assertIn(f"issued at {CASES}:{line} in lookup_each: {LOOKUP}", message)
        self.assertIn("@tddkit.allow_repeated_queries", message)

    def test_report_alerts_and_json_list_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.json")
            result, _ = run_recording(suite_of(cases.Repeats), show_report=True, json_path=path)
            with open(path) as fh:
                data = json.load(fh)
        line = line_of("# the N+1 line")
        self.assertIn("Repeated statements (N+1)", result.output)
        self.assertRegex(result.output, rf"Repeats\.test_16_calls\s+\S*queries\.py:{line}\s+{re.escape(LOOKUP)}\s+16")
        self.assertRegex(result.output, r"critical\s+n_plus_one\s+tests\.cases\.queries\.Repeats\.test_16_calls\s+16")
        alerts = sorted((a["test_id"].rsplit(".", 1)[1], a["value"], a["severity"]) for a in data["alerts"]
                        if a["metric"] == "n_plus_one")
        self.assertEqual(alerts, [("test_10_calls", 10, "warning"), ("test_16_calls", 16, "critical")])
        self.assertEqual(sorted(r["calls"] for r in data["repeated_statements"]), [10, 16])
        self.assertEqual({r["line"] for r in data["repeated_statements"]}, {line})
        tests = {t["test_id"].rsplit(".", 1)[1]: t for t in data["tests"]}
        self.assertEqual(tests["test_16_calls"]["repeated_statements"][0]["calls"], 16)

    def test_statements_through_the_pool_and_sqlalchemy_are_seen(self):
        result, caught = run_recording(suite_of(cases.RepeatsInApplicationCode))
        self.assertTrue(result.wasSuccessful(), result.output)
        tests = by_name(result)
        [pooled] = tests["test_through_the_pool"].repeated_statements
        self.assertEqual((pooled["calls"], pooled["line"]), (12, line_of("# the N+1 line")))
        [orm] = tests["test_through_sqlalchemy"].repeated_statements
        self.assertEqual((orm["statement"], orm["calls"], orm["file"], orm["line"]),
                         (LOOKUP, 12, str(CASES), line_of("# the SQLAlchemy line")))
        self.assertEqual(len(caught), 2)

    def test_detection_is_off_per_test_per_class_and_by_setting(self):
        suite = suite_of(cases.AllowedPerTest)
        suite.addTests([suite_of(cases.AllowedPerClass), suite_of(cases.AllowedByDecorator)])
        result, caught = run_recording(suite)
        self.assertTrue(result.wasSuccessful(), result.output)
        flagged = [tm.test_id for tm in result.test_metrics if tm.repeated_statements]
        self.assertEqual(flagged, ["tests.cases.queries.AllowedPerTest.test_not_allowed"])
        self.assertEqual(len(caught), 1)
        self.assertTrue(all(tm.statements == ((LOOKUP, 12, tm.statements[0][2], tm.statements[0][3]),)
                            for tm in result.test_metrics), "statistics stay on")
        SessionSettings(self, repeated_query_threshold=0)
        result, caught = run_recording(suite_of(cases.Repeats))
        self.assertEqual(([tm.repeated_statements for tm in result.test_metrics], caught), ([(), (), ()], []))

    def test_alerts_as_failures_fails_the_test(self):
        SessionSettings(self, alerts_as_failures=True, repeated_query_threshold=12)
        result, caught = run_recording(suite_of(cases.Repeats))
        self.assertEqual([test.id().rsplit(".", 1)[1] for test, _ in result.failures], ["test_16_calls"])
        self.assertIn("warning: n_plus_one: one statement ran 16 times", result.failures[0][1])
        self.assertNotIn("tddkit/", result.failures[0][1], "no tddkit frames in the failure")
        self.assertEqual(caught, [])


class MaxQueriesTests(unittest.TestCase):
    def test_at_most_n_statements(self):
        result = run_suite(suite_of(cases.MaxQueries))
        self.assertEqual([test.id().rsplit(".", 1)[1] for test, _ in result.failures],
                         ["test_counts_application_code", "test_over_the_limit"], result.output)
        self.assertEqual(result.errors, [])
        failures = dict((test.id().rsplit(".", 1)[1], text) for test, text in result.failures)
        self.assertIn("2 queries executed, at most 1 expected\nQueries:\n"
                      "  1. SELECT name FROM users WHERE id = %s\n  2. SELECT name FROM users WHERE id = %s",
                      failures["test_counts_application_code"])
        over = failures["test_over_the_limit"]
        self.assertIn("3 queries executed, at most 1 expected\nQueries:\n  1. SELECT 'first'\n", over)
        self.assertIn(f'File "{CASES}", line {line_of("# the failing line")}, in test_over_the_limit', over)
        self.assertNotIn("tddkit/", over, "the traceback shows the test's line, not tddkit's")


class ParallelAndPytestTests(unittest.TestCase):
    def test_statistics_and_repeats_come_back_from_workers(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.json")
            done = run_cli(["run", "tests/cases/queries.py", "-k", "Repeats", "-k", "Shapes", "--parallel", "2",
                            "--json", path], env=child_env(TDDKIT_DURATIONS_FILE=""))
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(path) as fh:
                data = json.load(fh)
        lookup = next(s for s in data["statements"] if s["statement"] == LOOKUP)
        self.assertEqual((lookup["calls"], lookup["test_count"]), (4 + 9 + 10 + 16 + 12 + 12, 6))
        self.assertEqual(sorted(r["calls"] for r in data["repeated_statements"]), [10, 12, 12, 16])
        self.assertIn("Repeated statements (N+1)", done.stderr)
        self.assertIn("Slowest 5 statements", done.stderr)

    def test_pytest_shows_the_warning(self):
        done = subprocess.run([sys.executable, "-m", "pytest", str(CASES), "-k", "Repeats and test_16_calls", "-q",
                               "-p", "no:cacheprovider"], cwd=ROOT, env=child_env(),
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("PerformanceWarning: critical: n_plus_one: one statement ran 16 times", done.stdout)
        self.assertIn(f"queries.py:{line_of('# the N+1 line')}", done.stdout)


if __name__ == "__main__":
    unittest.main()
