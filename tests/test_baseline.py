"""tddkit.reporting.baseline on real runs of tests/cases/regression.py: files, comparisons and their verdicts.

The regression suite has 6 tests of ~10 to ~26 ms (a sleep of 5 ms x weight x
FACTOR plus a little SQL). Runs are measured once and shared by the tests below.
A "re-run" compares 5 repetitions (``--repeat 5``) with the baseline: on a busy
machine single samples show scheduler spikes of ~4 ms (+40 % on a 10 ms test),
which one sample cannot tell from a regression; the median of 5 is stable.

The sets of runs are measured interleaved (each set's runs spread evenly over
the measuring time), so a change of the machine's load while they are measured
affects the baseline and the re-runs alike instead of looking like a change of
the suite. The slow suite is 5x slower: a busy machine stretches the few ms of
SQL and Python in every test, which squeezes the measured ratio towards 1, and
widens the noise band; 5x stays clear of both where 3x did not.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import unittest
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tddkit.errors import ConfigError, TddkitError
from tddkit.measure.metrics import CustomMetric, TestMetrics
from tddkit.measure.stats import mann_whitney_greater
from tddkit.reporting.baseline import FORMAT_VERSION, build_baseline, load_baseline, save_baseline
from tddkit.reporting.gate import EXIT_GATE_FAILED, gate_exit_code
from tddkit.reporting.regressions import compare, format_comparison
from tests.cases import regression
from tests.support import run_suite, suite_of

Run = tuple[list[TestMetrics], float]
SUITE_IDS = [f"tests.cases.regression.Regression.{name}" for name in
             ("test_insert", "test_join", "test_lookups", "test_report", "test_select", "test_update")]


def setUpModule():
    tddkit.get_session()  # one server for every inner run (closed at exit), not one per run


def run_regression_suite(*names: str, factor: float = 1.0, extra_queries: int = 0) -> Run:
    """One real run of the regression suite: its TestMetrics and wall seconds."""
    with mock.patch.object(regression, "FACTOR", factor), mock.patch.object(regression, "EXTRA_QUERIES", extra_queries):
        started = time.perf_counter()
        result = run_suite(suite_of(regression.Regression, *names))
        wall = time.perf_counter() - started
    if not result.wasSuccessful():
        raise AssertionError(f"the regression suite failed:\n{result.output}")
    return result.test_metrics, wall


#: How much slower the "slow" runs are.
SLOW = 5.0


class Measured:
    """Repeated runs of the regression suite, measured once (interleaved) and shared by every test."""

    #: name: (repetitions, FACTOR)
    SETS = {"baseline": (5, 1.0), "unchanged": (25, 1.0), "slow": (5, SLOW)}
    _runs: dict[str, tuple[list[list[TestMetrics]], list[float]]] = {}

    @classmethod
    def runs(cls, name: str) -> tuple[list[list[TestMetrics]], list[float]]:
        if not cls._runs:
            cls._measure()
        return cls._runs[name]

    @classmethod
    def _measure(cls) -> None:
        """Every set's runs, each set's spread evenly over the whole measuring time."""
        schedule = sorted(((k + 0.5) / count, name) for name, (count, _) in cls.SETS.items() for k in range(count))
        measured: dict[str, list[Run]] = {name: [] for name in cls.SETS}
        run_regression_suite()  # warm-up, not measured: the first run pays for first connections and caches
        for _, name in schedule:
            measured[name].append(run_regression_suite(factor=cls.SETS[name][1]))
        cls._runs = {name: ([tests for tests, _ in runs], [wall for _, wall in runs])
                     for name, runs in measured.items()}

    @classmethod
    def spread(cls, name: str, count: int) -> tuple[list[list[TestMetrics]], list[float]]:
        """``count`` of the runs of ``name``, taken evenly from its whole measuring time."""
        runs, walls = cls.runs(name)
        picked = [round(i * (len(runs) - 1) / (count - 1)) for i in range(count)] if count > 1 else [0]
        return [runs[i] for i in picked], [walls[i] for i in picked]

    @classmethod
    def baseline(cls, repeat: int = 3) -> dict:
        """A baseline of ``repeat`` (at most 5) unchanged runs."""
        return build_baseline(*cls.spread("baseline", repeat))

    @classmethod
    def groups(cls, name: str, size: int) -> list[tuple[list[list[TestMetrics]], list[float]]]:
        """The runs of ``name`` as re-runs of ``size`` repetitions each, dealt out in turn: each re-run spans
        the whole measuring time like the baseline does (measured under the same conditions as the baseline)."""
        runs, walls = cls.runs(name)
        count = len(runs) // size
        return [(runs[g::count][:size], walls[g::count][:size]) for g in range(count)]


def scaled(tests: Sequence[TestMetrics], factors: dict[str, float]) -> list[TestMetrics]:
    """Copies of real measurements with some tests' total time multiplied (simulated machines)."""
    return [dataclasses.replace(tm, total_ms=tm.total_ms * factors.get(tm.test_id.rsplit(".", 1)[1], 1.0))
            for tm in tests]


def keys(changes) -> list[str]:
    return sorted(change.key for change in changes)


def of_tests(changes) -> list:
    """The changes of single tests (not of aggregates)."""
    return [change for change in changes if not change.key.startswith("aggregate:")]


class BaselineContentTests(unittest.TestCase):
    def test_per_test_samples_aggregates_and_machine_info_from_3_repeats(self):
        data = Measured.baseline(3)
        self.assertEqual((data["format"], data["version"], data["repeat"]), ("tddkit-baseline", FORMAT_VERSION, 3))
        self.assertEqual(sorted(data["tests"]), SUITE_IDS)
        lookups = data["tests"]["tests.cases.regression.Regression.test_lookups"]
        self.assertEqual(len(lookups["total_ms"]), 3)
        self.assertEqual(len(lookups["body_ms"]), 3)
        self.assertTrue(all(20.0 <= ms < 100.0 for ms in lookups["total_ms"]), lookups)
        self.assertEqual(lookups["query_count"], [1, 1, 1])
        self.assertEqual(lookups["outcome"], "passed")
        self.assertEqual(sorted(data["aggregates"]),
                         ["fixture_setup_mean", "individual_test_mean", "individual_test_median", "suite_wall"])
        wall = data["aggregates"]["suite_wall"]
        self.assertEqual(len(wall["samples"]), 3)
        self.assertGreaterEqual(wall["median"], 5 * (2 + 2 + 3 + 3 + 4 + 5))
        self.assertIn("python", data["machine"])
        self.assertRegex(data["created"], r"^\d{4}-\d\d-\d\dT")
        json.dumps(data, allow_nan=False)

    def test_skipped_tests_are_not_measured_and_custom_metrics_are_kept_as_samples(self):
        runs = [[TestMetrics("m.T.test_a", total_ms=10.0, outcome="passed", custom=[CustomMetric("rows", v)]),
                 TestMetrics("m.T.test_b", total_ms=0.1, outcome="skipped")] for v in (7.0, 8.0)]
        data = build_baseline(runs, [0.02, 0.02])
        self.assertEqual(list(data["tests"]), ["m.T.test_a"])
        self.assertEqual(data["tests"]["m.T.test_a"]["custom"], {"rows": [7.0, 8.0]})

    def test_one_wall_time_per_run(self):
        with self.assertRaises(ValueError):
            build_baseline([[], []], [1.0])


class RegressionDetectionTests(unittest.TestCase):
    """Current runs against a baseline of 3 repeats."""

    def test_a_suite_made_5x_slower_is_flagged_test_by_test_with_ratio_about_5_in_a_single_run(self):
        runs, walls = Measured.runs("slow")
        comparison = compare(Measured.baseline(3), runs[:1], walls[:1])
        report = format_comparison(comparison)
        self.assertTrue(comparison.flagged, report)
        tests = of_tests(comparison.regressions)
        self.assertEqual(keys(tests), SUITE_IDS, report)
        for change in tests:
            self.assertTrue(0.4 * SLOW <= change.ratio <= 1.3 * SLOW, report)  # a busy machine squeezes it
            self.assertGreater(change.ratio, change.limit)
            self.assertIsNone(change.p_value)  # 3 vs 1 samples: the noise band decides
        self.assertTrue(0.5 * SLOW <= statistics.median(c.ratio for c in tests) <= 1.1 * SLOW, report)
        aggregates = keys(c for c in comparison.regressions if c.key.startswith("aggregate:"))
        self.assertIn("aggregate:individual_test_mean", aggregates)
        self.assertIn("aggregate:suite_wall", aggregates)
        self.assertEqual(comparison.improvements, [])
        self.assertEqual(gate_exit_code(comparison=comparison), EXIT_GATE_FAILED)
        self.assertIn("REGRESSED", report)
        # test / metric, baseline, current, ratio, limit, noise, p
        row = r"test_report\s+total_ms\s+\d+\.\d{3}\s+\d+\.\d{3}\s+\d\.\d\dx\s+\d\.\d\dx\s+\d+\.\d%\s+-"
        self.assertRegex(report, row)

    def test_the_unchanged_suite_is_never_flagged_in_5_reruns(self):
        baseline = Measured.baseline(3)
        for runs, walls in Measured.groups("unchanged", 5):
            comparison = compare(baseline, runs, walls)
            report = format_comparison(comparison)
            self.assertFalse(comparison.flagged, report)
            self.assertEqual((comparison.regressions, comparison.query_changes), ([], []), report)
            self.assertEqual((comparison.missing, comparison.new), ([], []))
            self.assertEqual(gate_exit_code(comparison=comparison), 0)
            self.assertIn("no regression", report)

    def test_a_faster_suite_reports_improvements_and_is_not_flagged(self):
        """The slow runs as the baseline, unchanged runs as the current: 5x faster."""
        runs, walls = Measured.spread("baseline", 3)
        comparison = compare(build_baseline(*Measured.spread("slow", 3)), runs, walls)
        report = format_comparison(comparison)
        self.assertFalse(comparison.flagged, report)
        improved = of_tests(comparison.improvements)
        self.assertEqual(keys(improved), SUITE_IDS, report)
        self.assertTrue(all(1 / (1.3 * SLOW) < c.ratio < min(2.5 / SLOW, c.limit) for c in improved), report)  # ~0.2
        self.assertIn("Improvements", report)

    def test_a_query_count_increase_is_flagged_in_a_single_run_with_its_statements(self):
        tests, wall = run_regression_suite(extra_queries=3)
        comparison = compare(Measured.baseline(3), [tests], [wall])
        report = format_comparison(comparison)
        [change] = comparison.query_changes
        self.assertEqual((change.key, change.kind, change.baseline, change.current, change.flagged),
                         ("tests.cases.regression.Regression.test_lookups", "increase", 1, 4, True))
        self.assertEqual(change.more_calls, [("SELECT name FROM users WHERE email = ?", 1, 4)])
        self.assertEqual(change.new_statements, [])
        self.assertTrue(comparison.flagged, report)
        self.assertEqual(gate_exit_code(comparison=comparison), EXIT_GATE_FAILED)
        self.assertIn("REGRESSED", report)
        self.assertRegex(report, r"Query count changes.*\n.*\n.*\n.*test_lookups\s+1\s+4\s+\+3 FLAGGED")
        self.assertIn("    more calls: SELECT name FROM users WHERE email = ? (1 -> 4)", report)

    def test_an_increase_within_the_allowance_is_listed_not_flagged_and_new_statements_are_named(self):
        tests, wall = run_regression_suite(extra_queries=3)
        baseline = Measured.baseline(3)
        def flagged_queries(allowance):  # the statement counts' verdict (one run's timings may be noisy)
            return [q.key for q in compare(baseline, [tests], [wall], query_allowance=allowance).query_changes
                    if q.flagged]

        self.assertEqual(flagged_queries(3), [])
        self.assertEqual(flagged_queries(2), ["tests.cases.regression.Regression.test_lookups"])
        renamed = json.loads(json.dumps(baseline))  # the baseline's test ran another statement instead
        entry = renamed["tests"]["tests.cases.regression.Regression.test_lookups"]
        entry["statements"] = {"SELECT email FROM users": 1}
        [change] = compare(renamed, [tests], [wall]).query_changes
        self.assertEqual(change.new_statements, [("SELECT name FROM users WHERE email = ?", 4)])
        self.assertIn("    new: SELECT name FROM users WHERE email = ? (4 calls)",
                      format_comparison(compare(renamed, [tests], [wall])))
        del entry["statements"]  # a baseline saved before statement shapes: counts compared, no shapes
        [change] = compare(renamed, [tests], [wall]).query_changes
        self.assertEqual((change.flagged, change.new_statements, change.more_calls), (True, [], []))

    def test_fewer_statements_are_listed_not_flagged(self):
        more, wall = run_regression_suite(extra_queries=2)
        tests, _ = run_regression_suite()
        comparison = compare(build_baseline([more], [wall]), [tests], [wall])
        [change] = comparison.query_changes
        self.assertEqual((change.kind, change.baseline, change.current, change.flagged), ("decrease", 3, 1, False))
        self.assertRegex(format_comparison(comparison), r"test_lookups\s+3\s+1\s+-2$")

    def test_the_baseline_keeps_the_statement_shapes_of_each_test(self):
        data = Measured.baseline(3)
        self.assertEqual(data["tests"]["tests.cases.regression.Regression.test_lookups"]["statements"],
                         {"SELECT name FROM users WHERE email = ?": 1})
        self.assertEqual(data["tests"]["tests.cases.regression.Regression.test_insert"]["statements"],
                         {"INSERT INTO users (email, name) VALUES (...)": 1, "SELECT count(*) FROM users": 1})

    def test_tests_missing_from_the_run_and_new_tests_are_listed(self):
        tests, wall = run_regression_suite("test_select", "test_insert")
        comparison = compare(Measured.baseline(3), [tests], [wall])
        self.assertEqual(sorted(comparison.missing), sorted(set(SUITE_IDS) - set(tm.test_id for tm in tests)))
        self.assertIn("Missing tests", format_comparison(comparison))
        runs, walls = Measured.runs("unchanged")
        reverse = compare(build_baseline([tests], [wall]), runs[:1], walls[:1])
        self.assertEqual(len(reverse.new), 4)
        self.assertIn("New tests", format_comparison(reverse))


class RepeatedRunTests(unittest.TestCase):
    """5 repeats on each side: the Mann-Whitney test decides significance."""

    def test_5x_slower_is_significant_for_every_test(self):
        runs, walls = Measured.runs("slow")
        comparison = compare(Measured.baseline(5), runs, walls)
        tests = of_tests(comparison.regressions)
        self.assertEqual(keys(tests), SUITE_IDS, format_comparison(comparison))
        for change in tests:
            self.assertAlmostEqual(change.p_value, mann_whitney_greater(range(5), range(5, 10)))
            self.assertLess(change.p_value, 0.01)

    def test_5_unchanged_runs_are_not_flagged(self):
        runs, walls = Measured.spread("unchanged", 5)
        comparison = compare(Measured.baseline(5), runs, walls)
        self.assertFalse(comparison.flagged, format_comparison(comparison))


class NoiseBandTests(unittest.TestCase):
    """A single-run baseline (run-to-run noise unknown) against the same real run rescaled per test,
    which simulates other machines: the per-test ratios are exactly the factors."""

    def setUp(self):
        runs, walls = Measured.runs("baseline")
        self.baseline = build_baseline(runs[:1], walls[:1])
        self.current, self.wall = runs[0], walls[0]

    def test_a_uniformly_noisy_machine_widens_the_band(self):
        noisy = {"test_select": 0.7, "test_insert": 0.8, "test_update": 1.0,
                 "test_join": 1.15, "test_lookups": 1.3, "test_report": 1.4}
        comparison = compare(self.baseline, [scaled(self.current, noisy)], [self.wall])
        # shortest half of the ratios: 1.15 .. 1.4, centre 1.3; a naive 20 % rule would flag 1.3 and 1.4
        self.assertAlmostEqual(comparison.suite_noise, 0.25 / 1.349 / 1.3)
        self.assertEqual(of_tests(comparison.regressions), [], format_comparison(comparison))

    def test_one_test_slower_on_a_quiet_machine_is_flagged(self):
        comparison = compare(self.baseline, [scaled(self.current, {"test_join": 3.0})], [self.wall])
        self.assertEqual(keys(of_tests(comparison.regressions)),
                         ["tests.cases.regression.Regression.test_join"], format_comparison(comparison))
        self.assertEqual(comparison.suite_noise, 0.0)
        self.assertAlmostEqual(comparison.regressions[0].ratio, 3.0)

    def test_half_the_suite_3x_slower_is_still_flagged(self):
        slow = {"test_select": 3.0, "test_join": 3.0, "test_report": 3.0}
        comparison = compare(self.baseline, [scaled(self.current, slow)], [self.wall])
        flagged = keys(of_tests(comparison.regressions))
        self.assertEqual(flagged, [f"tests.cases.regression.Regression.{name}" for name in sorted(slow)],
                         format_comparison(comparison))

    def test_sub_floor_changes_never_flag(self):
        def runs(ms: float) -> list[list[TestMetrics]]:
            return [[TestMetrics(f"m.T.test_{i}", total_ms=ms, outcome="passed") for i in range(4)]]
        comparison = compare(build_baseline(runs(0.2), [0.01]), runs(0.6), [0.01])  # 3x, but 0.4 ms
        self.assertEqual((comparison.regressions, comparison.improvements), ([], []))

    def test_custom_metrics_are_compared_per_test(self):
        def runs(value: float) -> list[list[TestMetrics]]:
            return [[TestMetrics("m.T.test_a", total_ms=10.0, outcome="passed",
                                 custom=[CustomMetric("rows_scanned", value + jitter)])] for jitter in (0, 1, 2)]
        comparison = compare(build_baseline(runs(100.0), [0.1] * 3), runs(300.0), [0.1] * 3)
        self.assertEqual(keys(comparison.regressions), ["custom:m.T.test_a:rows_scanned"])
        self.assertAlmostEqual(comparison.regressions[0].ratio, 301 / 101)


class FileTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name: str) -> str:
        return os.path.join(self.tmp.name, name)

    def write(self, name: str, text: str) -> str:
        with open(self.path(name), "w", encoding="utf-8") as fh:
            fh.write(text)
        return self.path(name)

    def test_round_trip_creates_parents_and_leaves_no_temporary_file(self):
        data = Measured.baseline(3)
        path = self.path(os.path.join(".tddkit", "sub", "baseline.json"))
        save_baseline(path, data)
        self.assertEqual(load_baseline(path), data)
        self.assertEqual(os.listdir(os.path.dirname(path)), ["baseline.json"])
        save_baseline(path, {**data, "repeat": 99})  # replaced whole
        self.assertEqual(load_baseline(path)["repeat"], 99)

    def test_missing_file(self):
        self.assert_error(self.path("nope.json"), "baseline file not found: .*nope.json; create it with: "
                          "python -m tddkit run --save-baseline")

    def test_corrupt_file(self):
        self.assert_error(self.write("bad.json", '{"format": "tddkit-baseline", '), "is not valid JSON")

    def test_other_json_and_wrong_version(self):
        self.assert_error(self.write("other.json", "[1, 2]"), "is not a tddkit baseline file")
        old = json.dumps({"format": "tddkit-baseline", "version": 99, "tests": {}, "aggregates": {}})
        self.assert_error(self.write("old.json", old), "has format version 99, this tddkit reads version 1")
        partial = json.dumps({"format": "tddkit-baseline", "version": FORMAT_VERSION})
        self.assert_error(self.write("partial.json", partial), "is incomplete")

    def assert_error(self, path: str, pattern: str) -> None:
        with self.assertRaises(ConfigError) as caught:
            load_baseline(path)
        self.assertIsInstance(caught.exception, TddkitError)
        self.assertRegex(str(caught.exception), pattern)
        self.assertNotIn("\n", str(caught.exception))


class CommandLineTests(unittest.TestCase):
    """The flags end to end: exit codes 0, 3 and 2 as documented in tddkit.cli.main."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.baseline = os.path.join(tmp.name, "baseline.json")

    def run_regression_suite(self, *args: str, factor: str = "1"):
        from tests.support import child_env, run_cli

        env = child_env(TDDKIT_REGRESSION_FACTOR=factor, TDDKIT_DURATIONS_FILE="")
        return run_cli(["run", "tests/cases/regression.py", "-q", "--no-report", *args], env=env)

    def test_save_compare_and_exit_codes(self) -> None:
        saved = self.run_regression_suite("--save-baseline", self.baseline, "--repeat", "3")
        self.assertEqual(saved.returncode, 0, saved.stderr)
        self.assertIn("baseline of 3 run(s) saved to", saved.stderr)
        slowed = self.run_regression_suite("--compare", self.baseline, factor=str(SLOW))
        self.assertEqual(slowed.returncode, EXIT_GATE_FAILED, slowed.stderr)
        self.assertIn("baseline comparison: REGRESSED", slowed.stderr)
        # a row per flagged test or aggregate (which ones depends on the machine's noise between the two runs)
        self.assertRegex(slowed.stderr,
                         r"(Regression\.test_\w+\s+total_ms|aggregate:\w+\s+ms)\s+[\d.]+\s+[\d.]+\s+[2-9]\.\d\dx")
        self.assertRegex(slowed.stderr.strip().splitlines()[-1], r"^tddkit: 6 passed, 0 failed$")

    def test_gate_failure_is_exit_3_naming_the_limit(self) -> None:
        with tempfile.TemporaryDirectory() as project:
            from tests.support import ROOT, child_env, run_cli

            with open(os.path.join(project, "pyproject.toml"), "w") as fh:
                fh.write(f'[tool.tddkit]\nschema = ["{ROOT / "tddkit/data/bench_schema.sql"}"]\n'
                         '[tool.tddkit.gate]\nmax_test_ms = 5\n')

            with open(os.path.join(project, "test_regression.py"), "w") as fh:
                fh.write((ROOT / "tests/cases/regression.py").read_text())
            env = child_env(TDDKIT_DURATIONS_FILE="")
            done = run_cli(["run", "test_regression.py", "--gate", "--no-report"], env=env, cwd=project)
        self.assertEqual(done.returncode, EXIT_GATE_FAILED, done.stderr)
        self.assertIn("performance gate: FAILED", done.stderr)
        self.assertRegex(done.stderr, r"max_test_ms: [\d.]+ ms > 5 ms")

    def test_more_statements_are_exit_3_from_one_run(self) -> None:
        from tests.support import child_env, run_cli

        saved = self.run_regression_suite("--save-baseline", self.baseline)
        self.assertEqual(saved.returncode, 0, saved.stderr)
        env = child_env(TDDKIT_REGRESSION_EXTRA_QUERIES="3", TDDKIT_DURATIONS_FILE="")
        grown = run_cli(["run", "tests/cases/regression.py", "-q", "--no-report", "--compare", self.baseline], env=env)
        self.assertEqual(grown.returncode, EXIT_GATE_FAILED, grown.stderr)
        self.assertRegex(grown.stderr, r"Regression\.test_lookups\s+1\s+4\s+\+3 FLAGGED")
        self.assertIn("more calls: SELECT name FROM users WHERE email = ? (1 -> 4)", grown.stderr)

    def test_the_gate_keys_on_statements(self) -> None:
        from tests.support import ROOT, child_env, run_cli

        with tempfile.TemporaryDirectory() as project:
            with open(os.path.join(project, "pyproject.toml"), "w") as fh:
                fh.write(f'[tool.tddkit]\nschema = ["{ROOT / "tddkit/data/bench_schema.sql"}"]\n'
                         '[tool.tddkit.gate]\nmax_test_ms = 10000\naverage_test_ms = 10000\nfixture_setup_ms = 10000\n'
                         'suite_s = 10000\nmax_queries_per_test = 3\nquery_count_increase = 5\n')
            with open(os.path.join(project, "test_regression.py"), "w") as fh:
                fh.write((ROOT / "tests/cases/regression.py").read_text())

            def run(*args: str, extra: str = "0"):
                env = child_env(TDDKIT_DURATIONS_FILE="", TDDKIT_REGRESSION_EXTRA_QUERIES=extra)
                return run_cli(["run", "test_regression.py", "--no-report", *args], env=env, cwd=project)

            saved = run("--save-baseline", "base.json")
            self.assertEqual(saved.returncode, 0, saved.stderr)
            grown = run("--compare", "base.json", "--gate", extra="3")
            alone = run("--gate")
        self.assertEqual(grown.returncode, EXIT_GATE_FAILED, grown.stderr)
        self.assertRegex(grown.stderr, r"test_lookups\s+1\s+4\s+\+3\n", "within query_count_increase: not flagged")
        self.assertIn("performance gate: FAILED (1 of 6 limits)", grown.stderr)
        self.assertIn("max_queries_per_test: 4 statements > 3 statements (test_regression.Regression.test_lookups)",
                      grown.stderr)
        self.assertEqual(alone.returncode, EXIT_GATE_FAILED, alone.stderr)
        self.assertIn("query_count_increase: not measured (no baseline: run with --compare)", alone.stderr)

    def test_missing_baseline_is_a_one_line_usage_error(self) -> None:
        done = self.run_regression_suite("--compare", self.baseline + ".missing")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
        self.assertIn("baseline file not found", done.stderr)


if __name__ == "__main__":
    unittest.main()
