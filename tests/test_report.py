"""tddkit.reporting.report on hand-made metrics (no database needed)."""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.config.settings import Settings
from tddkit.measure.metrics import ClassMetrics, CustomMetric, TestMetrics
from tddkit.measure.stats import recommendation
from tddkit.reporting.alerts import Alert
from tddkit.reporting.report import (
    MetricRow,
    Report,
    RunSummary,
    build_report,
    format_report,
    report_to_dict,
    write_json,
)
from tests.support import child_env, run_cli

MB = 2**20


def make_tests() -> list[TestMetrics]:
    """Four tests of one class: two fast, one slow failure, one erroring; plus a skipped one."""
    cls = ClassMetrics("pkg.test_mod.Case", connection_ms=2.0, setup_ms=3.0, query_count=4)
    common = dict(connection_ms=1.0, cleanup_ms=1.0, query_count=2, query_ms=0.5, class_metrics=cls)
    return [
        TestMetrics("pkg.test_mod.Case.test_a", setup_ms=1.0, body_ms=10.0, total_ms=20.0, outcome="passed", **common),
        TestMetrics("pkg.test_mod.Case.test_b", setup_ms=2.0, body_ms=20.0, total_ms=40.0, outcome="passed",
                    rss_before=0, rss_after=20 * MB, **common),
        TestMetrics("pkg.test_mod.Case.test_c", setup_ms=9.0, body_ms=250.0, total_ms=300.0, outcome="failed",
                    custom=[CustomMetric("api_ms", 30.0)], **common),
        TestMetrics("pkg.test_mod.Case.test_d", setup_ms=3.0, body_ms=5.0, total_ms=10.0, outcome="error", **common),
        TestMetrics("pkg.test_mod.Case.test_e", total_ms=0.1, outcome="skipped"),
    ]


def make_settings() -> Settings:
    settings = Settings()
    settings.thresholds = {**settings.thresholds, "api_ms": 20.0}
    return settings


SUMMARY = RunSummary(tests=5, passed=2, failed=1, errors=1, skipped=1, wall_seconds=0.5)


class BuildReportTests(unittest.TestCase):
    def setUp(self) -> None:
        self.tests = make_tests()
        self.report = build_report(self.tests, SUMMARY, make_settings(), slowest=2)
        self.rows = {row.name: row for row in self.report.rows}

    def test_row_order(self) -> None:
        self.assertEqual(
            [row.name for row in self.report.rows],
            ["individual_test", "fixture_setup", "connection_acquisition", "test_body", "cleanup", "sql_queries",
             "sql_time", "memory_delta_mb", "class_setup", "suite_per_20_tests", "custom:api_ms"],
        )

    def test_skipped_tests_are_not_measured(self) -> None:
        self.assertEqual(self.rows["individual_test"].stats.count, 4)

    def test_individual_test_fails_on_mean(self) -> None:
        row = self.rows["individual_test"]  # 20, 40, 300, 10 ms against 100 ms: mean 92.5, one over
        self.assertIsInstance(row, MetricRow)
        self.assertEqual(row.target, 100.0)
        self.assertEqual(row.stats.mean, 92.5)
        self.assertEqual(row.status, "PASS")
        self.assertEqual(row.success_rate, 75.0)

    def test_fixture_setup(self) -> None:
        row = self.rows["fixture_setup"]  # 1, 2, 9, 3 ms against 5 ms: mean 3.75, one over
        self.assertEqual(row.status, "PASS")
        self.assertEqual(row.success_rate, 75.0)

    def test_fail_when_mean_over_target(self) -> None:
        settings = make_settings()
        settings.targets = {**settings.targets, "individual_test": 50.0}
        row = build_report(self.tests, SUMMARY, settings).rows[0]
        self.assertEqual((row.name, row.status, row.success_rate), ("individual_test", "FAIL", 75.0))

    def test_rows_without_target(self) -> None:
        for name in ("test_body", "sql_queries", "sql_time", "memory_delta_mb", "class_setup"):
            with self.subTest(name=name):
                row = self.rows[name]
                self.assertEqual((row.target, row.status, row.success_rate), (None, "-", None))
        self.assertEqual(self.rows["class_setup"].stats.count, 1)  # one distinct class
        self.assertEqual(self.rows["sql_queries"].unit, "count")

    def test_suite_row_scaled_to_20_tests(self) -> None:
        row = self.rows["suite_per_20_tests"]
        self.assertEqual(row.stats.count, 1)
        self.assertAlmostEqual(row.stats.mean, 500.0 * 20 / 5)
        self.assertEqual((row.target, row.status, row.success_rate), (5000.0, "PASS", 100.0))

    def test_custom_metric_row(self) -> None:
        row = self.rows["custom:api_ms"]
        self.assertEqual((row.stats.mean, row.target, row.status, row.success_rate), (30.0, 20.0, "FAIL", 0.0))

    def test_targets_and_overall_rate(self) -> None:
        targeted = [row for row in self.report.rows if row.target is not None]
        self.assertEqual(self.report.targets_total, len(targeted))
        self.assertEqual(self.report.targets_met, sum(row.status == "PASS" for row in targeted))
        expected = statistics.fmean(row.success_rate for row in targeted)
        self.assertAlmostEqual(self.report.overall_success_rate, expected)
        without_errors = [tm for tm in self.tests if tm.outcome != "error"]
        report = build_report(without_errors, RunSummary(4, 3, 0, 0, 1, 0.5), make_settings())
        rate = report.overall_success_rate
        self.assertEqual(report.recommendation, recommendation(rate))
        failed = build_report(without_errors, RunSummary(4, 2, 1, 0, 1, 0.5), make_settings())
        self.assertEqual(failed.recommendation, f"{recommendation(rate)} (1 of 4 tests failed: this judges speed only)")

    def test_a_run_with_errors_is_not_judged(self) -> None:
        self.assertEqual(self.report.recommendation, "errors: 1 of 5 tests could not run or ended in an error; "
                                                     "fix it before judging performance")
        two = build_report(self.tests, RunSummary(5, 1, 1, 2, 1, 0.5), make_settings())
        self.assertTrue(two.recommendation.startswith("errors: 2 of 5 tests "), two.recommendation)
        self.assertTrue(two.recommendation.endswith("fix them before judging performance"), two.recommendation)

    def test_stand_ins_for_import_and_fixture_errors_are_not_measured(self) -> None:
        import_failure = TestMetrics("unittest.loader._FailedTest.test_broken", body_ms=0.1, total_ms=0.1,
                                     outcome="error")
        fixture_error = TestMetrics("setUpClass (pkg.test_mod.Other)", outcome="error")
        self.assertEqual([tm.measured for tm in (import_failure, fixture_error, *self.tests)],
                         [False, False, True, True, True, True, False])
        report = build_report([import_failure], RunSummary(1, 0, 0, 1, 0, 0.001), Settings())
        self.assertEqual((report.rows, report.targets_total, report.slowest, report.histogram), ([], 0, [], []))
        text = format_report(report)
        self.assertIn("recommendation: errors: 1 of 1 test could not run or ended in an error; fix it", text)
        self.assertNotIn("excellent", text)
        self.assertNotIn("100.0%", text)
        with_fixture_error = build_report([*self.tests, fixture_error], SUMMARY, make_settings())
        self.assertEqual(with_fixture_error.rows, self.report.rows)

    def test_a_run_without_measured_tests_has_no_data(self) -> None:
        skipped = [TestMetrics("m.T.test_skipped", total_ms=0.1, outcome="skipped")]
        report = build_report(skipped, RunSummary(1, 0, 0, 0, 1, 0.01), Settings())
        self.assertEqual(report.recommendation, "no data: no test was measured")
        self.assertEqual(report.rows, [])

    def test_slowest(self) -> None:
        self.assertEqual([tm.test_id[-6:] for tm in self.report.slowest], ["test_c", "test_b"])

    def test_memory_warning_for_20_mb(self) -> None:
        self.assertEqual([tm.test_id for tm in self.report.memory_warnings], ["pkg.test_mod.Case.test_b"])

    def test_alerts(self) -> None:
        alerts = {(a.metric, a.test_id[-6:]): a for a in self.report.alerts}
        self.assertEqual(
            set(alerts),
            {("test_duration_ms", "test_c"), ("fixture_setup_ms", "test_c"), ("memory_usage_mb", "test_b"),
             ("api_ms", "test_c")},
        )
        self.assertEqual(alerts["test_duration_ms", "test_c"],
                         Alert("test_duration_ms", "pkg.test_mod.Case.test_c", 300.0, 100.0, "critical"))
        self.assertEqual(alerts["fixture_setup_ms", "test_c"].severity, "critical")  # 9 > 7.5
        self.assertEqual(alerts["memory_usage_mb", "test_b"].severity, "critical")  # 20 > 15
        self.assertEqual(alerts["api_ms", "test_c"].severity, "warning")  # 30 <= 30

    def test_no_alert_without_threshold(self) -> None:
        settings = Settings()
        settings.thresholds = {}
        self.assertEqual(build_report(self.tests, SUMMARY, settings).alerts, [])

    def test_histogram(self) -> None:
        lines = self.report.histogram
        self.assertEqual(len(lines), 8)
        counts = [int(line.split()[-1]) for line in lines]
        self.assertEqual(counts, [0, 0, 0, 0, 0, 3, 0, 1])  # 10, 20, 40 in [10, 50); 300 in >= 100
        self.assertTrue(all(line.count("█") <= 40 for line in lines))
        self.assertEqual(max(line.count("█") for line in lines), 40)

    def test_empty_run(self) -> None:
        report = build_report([], RunSummary(0, 0, 0, 0, 0, 0.0), Settings())
        self.assertIsInstance(report, Report)
        self.assertEqual((report.rows, report.targets_total, report.histogram), ([], 0, []))
        self.assertIn("recommendation: no data: no test was measured", format_report(report))


class FormatReportTests(unittest.TestCase):
    def test_contents(self) -> None:
        report = build_report(make_tests(), SUMMARY, make_settings())
        text = format_report(report)
        for header in ("metric", "count", "mean", "median", "p95", "min", "max", "stddev", "target", "status",
                       "success %"):
            self.assertIn(header, text)
        self.assertIn(f"recommendation: {report.recommendation}", text)
        self.assertIn(f"targets met: {report.targets_met}/{report.targets_total}", text)
        self.assertIn("Slowest 4 tests", text)
        self.assertIn("Memory warnings", text)
        self.assertIn("Alerts", text)
        self.assertIn("92.500", text)  # ms with 3 decimals
        self.assertNotIn("\x1b[", text)


class OutputFileTests(unittest.TestCase):
    def setUp(self) -> None:
        self.tests = make_tests()
        self.report = build_report(self.tests, SUMMARY, make_settings())
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def test_json_round_trip(self) -> None:
        path = os.path.join(self.dir, "out", "report.json")
        write_json(path, self.report, self.tests)
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        self.assertEqual(
            set(data),
            {"tddkit_version", "created", "environment", "summary", "metrics", "tests", "classes", "alerts",
             "memory_warnings", "schema_cache", "parallel", "statements", "repeated_statements"},
        )
        self.assertEqual(len(data["tests"]), len(self.tests))
        self.assertEqual(data["tests"][0], self.tests[0].as_dict())
        self.assertEqual(data["summary"]["targets_met"], self.report.targets_met)
        self.assertEqual(data["metrics"]["individual_test"]["status"], "PASS")
        self.assertEqual(data["metrics"]["individual_test"]["mean"], 92.5)
        self.assertEqual(len(data["classes"]), 1)
        self.assertEqual(data["memory_warnings"], ["pkg.test_mod.Case.test_b"])
        self.assertEqual(set(data["environment"]), {"python", "implementation", "platform", "machine", "cpu_count"})

    def test_a_report_that_cannot_be_written_leaves_the_previous_file_whole(self) -> None:
        path = os.path.join(self.dir, "report.json")
        write_json(path, self.report, self.tests)
        with open(path, encoding="utf-8") as fh:
            before = fh.read()
        self.tests[0].custom = [CustomMetric("rows", 1.0, {"not json": object()})]
        with self.assertRaises(TypeError):
            write_json(path, build_report(self.tests, SUMMARY, make_settings()), self.tests)
        with open(path, encoding="utf-8") as fh:
            self.assertEqual(fh.read(), before)
        self.assertEqual(os.listdir(self.dir), ["report.json"])

    def test_json_has_no_nan(self) -> None:
        self.tests[0].custom = [*self.tests[0].custom, CustomMetric("ratio", math.nan)]
        report = build_report(self.tests, SUMMARY, make_settings())
        json.dumps(report_to_dict(report, self.tests), allow_nan=False)


class CommandLineTests(unittest.TestCase):
    def test_a_run_whose_only_module_fails_to_import_says_so(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            module = os.path.join(tmp, "test_broken.py")
            with open(module, "w", encoding="utf-8") as fh:
                fh.write("import tddkit\nimport no_such_module_for_tddkit\n")
            json_path = os.path.join(tmp, "run.json")
            done = run_cli(["run", module, "--json", json_path], env=child_env(TDDKIT_DURATIONS_FILE=""))
            with open(json_path, encoding="utf-8") as fh:
                summary = json.load(fh)["summary"]
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("ModuleNotFoundError: No module named 'no_such_module_for_tddkit'", done.stderr)
        self.assertIn("recommendation: errors: 1 of 1 test could not run or ended in an error; fix it before "
                      "judging performance", done.stderr)
        self.assertNotIn("excellent", done.stderr)
        self.assertNotIn("overall success rate: 100.0%", done.stderr)
        self.assertEqual((summary["errors"], summary["targets_total"]), (1, 0))


if __name__ == "__main__":
    unittest.main()
