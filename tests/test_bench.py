"""The benchmark: its arithmetic on known inputs, a real run, and the CLI's JSON."""

import json
import math
import os
import re
import statistics
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tddkit.bench import app as bench_app
from tddkit.bench import compare as bench_compare
from tddkit.bench import report as bench_report
from tddkit.bench import suite as bench
from tddkit.bench.report import BenchReport, Comparison, Operation, ParallelRun
from tddkit.errors import TddkitError
from tests.support import built_wheel, child_env, run_cli

COMPARISONS = ["traditional", "truncate", "database per test"]


def operation_with_rate(name: str, permille: int) -> Operation:
    """An operation with target 2 ms whose success rate is ``permille / 10`` %."""
    return Operation(name, [1.0] * permille + [3.0] * (1000 - permille), target=2.0)


def report_of(*operations: Operation, parallel=(), comparisons=()) -> BenchReport:
    return BenchReport("a server", "15.0", bench.iteration_counts(), list(operations), list(parallel),
                       list(comparisons), bench.WARMUP)


def bench_databases() -> list:
    with psycopg.connect(tddkit.get_session().server_dsn, autocommit=True) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tddkit\\_bench\\_%'").fetchall()
    return [name for (name,) in rows]


class ArithmeticTests(unittest.TestCase):
    def test_operation_statistics_target_and_success_rate(self):
        samples = [1.0, 2.0, 3.0, 4.0, 100.0]
        op = Operation("op", samples, target=3.0)
        stats = op.stats
        self.assertEqual((stats.count, stats.mean, stats.median, stats.min, stats.max), (5, 22.0, 3.0, 1.0, 100.0))
        self.assertAlmostEqual(stats.stddev, statistics.stdev(samples))
        self.assertEqual(op.success_rate, 60.0)  # 1, 2 and 3 are within 3.0: the target itself counts
        self.assertTrue(op.achieved)  # the median (3.0) meets the target
        self.assertFalse(Operation("op", samples, target=2.9).achieved)
        self.assertEqual(Operation("op", samples, target=2.9).success_rate, 40.0)

    def test_an_operation_without_target_is_left_out_of_the_overall_rate(self):
        untargeted = Operation("parallel_execution", [50.0, 60.0])
        self.assertIsNone(untargeted.achieved)
        self.assertIsNone(untargeted.success_rate)
        report = report_of(operation_with_rate("a", 1000), operation_with_rate("b", 500), untargeted)
        self.assertEqual(report.overall_success_rate, 75.0)
        self.assertEqual(bench_report.overall_success_rate([untargeted]), 0.0)

    def test_recommendation_thresholds(self):
        cases = [(1000, "excellent"), (950, "excellent"), (949, "good"), (800, "good"), (799, "moderate"),
                 (600, "moderate"), (599, "poor"), (0, "poor")]
        for permille, verdict in cases:
            with self.subTest(rate=permille / 10):
                report = report_of(operation_with_rate("op", permille))
                self.assertAlmostEqual(report.overall_success_rate, permille / 10)
                self.assertTrue(report.recommendation.startswith(verdict), report.recommendation)

    def test_parallel_speedup_and_efficiency(self):
        run = ParallelRun("body", workers=10, samples=[20.0, 22.0], sequential_s=1.0, parallel_s=0.25)
        self.assertEqual(run.speedup, 4.0)
        self.assertEqual(run.efficiency, 40.0)
        self.assertEqual(run.stats.median, 21.0)

    def test_comparison_ratio_is_median_over_tddkit_median(self):
        comparison = Comparison("traditional", "per test", [8.0, 10.0, 30.0], baseline_ms=0.5)
        self.assertEqual(comparison.ratio, 20.0)

    def test_iteration_counts_scale_together(self):
        self.assertEqual(bench.iteration_counts(), bench.DEFAULT_ITERATIONS)
        self.assertEqual(bench.DEFAULT_ITERATIONS["fixture_setup"], 100)
        self.assertEqual(bench.DEFAULT_ITERATIONS["individual_test"], 50)
        scaled = bench.iteration_counts(5)
        self.assertEqual((scaled["individual_test"], scaled["fixture_setup"], scaled["connection_acquire"],
                          scaled["schema_operation"]), (5, 10, 10, 5))
        self.assertEqual(min(bench.iteration_counts(1).values()), 1)
        with self.assertRaises(TddkitError):
            bench.iteration_counts(0)

    def test_printed_and_json_forms_of_a_known_report(self):
        report = report_of(
            Operation("fixture_setup", [0.1, 0.2, 0.3], target=0.3),
            parallel=[ParallelRun("typical", 10, [5.0], 1.0, 0.5)],
            comparisons=[Comparison("traditional", "new connection", [8.0, 10.0, 12.0], baseline_ms=0.2)],
        )
        text = bench_report.format_bench(report)
        cells = ["fixture_setup", "3", "0.200", "0.200", "0.100", "0.300", "0.100", "0.300", "yes", "100.0"]
        self.assertRegex(text, r"\s+".join(map(re.escape, cells)))
        self.assertRegex(text, r"typical\s+1\s+5\.000\s+5\.000\s+1\.000\s+0\.500\s+2\.00x\s+20\.0")
        self.assertIn("traditional 10.00 ms = 50x tddkit", text)
        self.assertIn("Overall success rate: 100.0%", text)
        document = bench_report.bench_to_dict(report)
        op = document["operations"]["fixture_setup"]
        self.assertEqual((op["samples"], op["median"], op["target"], op["achieved"], op["success_rate"]),
                         ([0.1, 0.2, 0.3], 0.2, 0.3, True, 100.0))
        self.assertEqual(document["comparisons"][0]["ratio"], 50.0)
        self.assertEqual(document["parallel"][0]["speedup"], 2.0)
        self.assertNotIn("Per-test setup + cleanup", bench_report.format_bench(report_of(*report.operations)))

    def test_operations_describe_themselves_in_the_table_and_the_json(self):
        report = report_of(Operation("fixture_setup", [0.1], target=0.3, description="an empty test"))
        self.assertRegex(bench_report.format_bench(report), r"\n  fixture_setup\s+an empty test\n")
        self.assertIn(f"each series follows {bench.WARMUP} uncounted runs", bench_report.format_bench(report))
        document = bench_report.bench_to_dict(report)
        self.assertEqual((document["operations"]["fixture_setup"]["description"], document["warmup"]),
                         ("an empty test", bench.WARMUP))


class RunTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        session = tddkit.get_session()
        cls.pool_sizes = (session._database.pool.min_size, session._database.pool.max_size)
        cls.report = bench.run_benchmark(session, iterations=3)

    def assert_finite_positive(self, stats, what):
        for field in ("mean", "median", "min", "max"):
            value = getattr(stats, field)
            self.assertTrue(math.isfinite(value) and value > 0, f"{what} {field} = {value}")

    def test_every_operation_is_measured(self):
        counts = bench.iteration_counts(3)
        self.assertEqual([op.name for op in self.report.operations], [*bench.OPERATIONS, *bench_app.OPERATIONS])
        rows = {op.name: op for op in self.report.operations}
        self.assertLess(abs(rows["pool_block_overhead"].stats.median), 1.0)
        self.assertEqual(rows["leak_check_per_test"].stats.count, counts["individual_test"])
        for op in self.report.operations:
            if op.name not in bench_app.OPERATIONS:  # differences of two timings may be below zero
                self.assert_finite_positive(op.stats, op.name)
            self.assertEqual(op.target, {**bench.TARGETS_MS, **bench_app.TARGETS_MS}.get(op.name))
        self.assertEqual(self.report.operation("fixture_setup").stats.count, counts["fixture_setup"])
        self.assertEqual(self.report.operation("test_cleanup").stats.count, counts["individual_test"])
        self.assertEqual(self.report.operation("parallel_execution").stats.count, bench.PARALLEL_WORKERS)
        statements = self.report.operation("statement_stats")
        self.assertEqual(statements.stats.count, counts["statement_stats"])
        self.assertLess(statements.stats.median, bench.TARGETS_MS["statement_stats"], "at most 0.005 ms per statement")

    def test_parallel_runs_both_bodies_and_waiting_tests_overlap(self):
        self.assertEqual([run.body for run in self.report.parallel], list(bench.PARALLEL_BODIES.values()))
        for run in self.report.parallel:
            self.assert_finite_positive(run.stats, run.body)
            self.assertGreater(run.speedup, 0)
        waiting = self.report.parallel[1]
        self.assertGreaterEqual(waiting.sequential_s, bench.PARALLEL_WORKERS * bench.PARALLEL_WAIT_S)
        self.assertGreater(waiting.speedup, 2.0)

    def test_every_comparison_is_measured_and_its_databases_are_dropped(self):
        self.assertEqual([c.approach for c in self.report.comparisons], COMPARISONS)
        tddkit_median = self.report.operation("fixture_setup").stats.median
        for comparison in self.report.comparisons:
            self.assert_finite_positive(comparison.stats, comparison.approach)
            self.assertEqual(comparison.baseline_ms, tddkit_median)
            self.assertGreater(comparison.ratio, 1.0)
        self.assertEqual(bench_databases(), [])

    def test_the_pool_gets_its_size_back(self):
        pool = tddkit.get_session()._database.pool
        self.assertEqual((pool.min_size, pool.max_size), self.pool_sizes)

    def test_the_table_names_every_operation_and_approach(self):
        text = bench_report.format_bench(self.report)
        for name in [*bench.OPERATIONS, *COMPARISONS, *bench.PARALLEL_BODIES.values(), "Recommendation"]:
            self.assertIn(name, text)


class CommandLineTests(unittest.TestCase):
    def test_json_holds_every_number(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out", "bench.json")
            done = run_cli(["bench", "--iterations", "2", "--json", path])
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(path, encoding="utf-8") as fh:
                document = json.load(fh)
        self.assertIn("Overall success rate", done.stdout)
        counts = bench.iteration_counts(2)
        self.assertEqual(document["iterations"], counts)
        self.assertEqual(list(document["operations"]), [*bench.OPERATIONS, *bench_app.OPERATIONS])
        for name, op in document["operations"].items():
            expected = counts.get(name, counts["individual_test"])
            if name == "parallel_execution":
                expected = bench.PARALLEL_WORKERS
            self.assertEqual(len(op["samples"]), expected, name)
            self.assertEqual(op["count"], expected, name)
            for key in ("mean", "median", "min", "max", "stddev"):
                self.assertIsInstance(op[key], float, f"{name} {key}")
        self.assertEqual([c["approach"] for c in document["comparisons"]], COMPARISONS)
        self.assertTrue(all(len(c["samples"]) == counts["comparison"] and c["ratio"] > 0
                            for c in document["comparisons"]))
        self.assertEqual(len(document["parallel"]), 2)
        self.assertIsInstance(document["overall_success_rate"], float)
        self.assertTrue(document["recommendation"])

    def test_the_installed_package_benchmarks_outside_any_project(self):
        with tempfile.TemporaryDirectory() as tmp:
            lib, project = Path(tmp, "lib"), Path(tmp, "project")
            project.mkdir()
            with zipfile.ZipFile(built_wheel()) as wheel:
                wheel.extractall(lib)
            self.assertTrue((lib / "tddkit" / "data" / "bench_schema.sql").is_file())
            self.assertFalse((lib / "examples").exists())
            env = {**child_env(TDDKIT_DURATIONS_FILE=""), "PYTHONPATH": str(lib)}
            done = run_cli(["bench", "--iterations", "1", "--json", str(project / "bench.json")], env=env, cwd=project)
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(project / "bench.json", encoding="utf-8") as fh:
                document = json.load(fh)
        self.assertEqual([c["approach"] for c in document["comparisons"]], COMPARISONS)
        self.assertIn("new connection + TRUNCATE of its 4 tables", document["comparisons"][1]["per_test"])
        self.assertTrue(bench_compare.BENCH_SCHEMA.is_file())
        package = Path(bench_compare.__file__).parent.parent
        self.assertEqual(Path(str(bench_compare.BENCH_SCHEMA)).parent.parent, package)

    def test_a_bad_iteration_count_is_one_line_and_exit_2(self):
        done = run_cli(["bench", "--iterations", "0"])
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(done.stderr.strip().splitlines(), ["tddkit: error: --iterations must be at least 1, not 0"])

    def test_an_unwritable_json_file_is_one_line_and_exit_2_before_the_benchmark(self):
        done = run_cli(["bench", "--json", "/proc/tddkit-bench.json", "--iterations", "1"])
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(done.stderr.strip().splitlines(), [
            "tddkit: error: --json /proc/tddkit-bench.json cannot be written (No such file or directory: /proc); "
            "give a path in a directory you can write to"])
        self.assertEqual(done.stdout, "", "no benchmark ran")


if __name__ == "__main__":
    unittest.main()
