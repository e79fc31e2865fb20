"""Parallel workers and CI shards: same results as serial, crashes survived, nothing left behind."""

import json
import os
import re
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tddkit.errors import ConfigError
from tddkit.parallel.sharding import parse_parallel, parse_shard, shard
from tests.support import child_env, run_cli


def outcomes(json_path):
    with open(json_path) as fh:
        return {t["test_id"]: t["outcome"] for t in json.load(fh)["tests"]}


class ParallelRunTests(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.env = child_env(TDDKIT_DURATIONS_FILE=os.path.join(self.dir, "durations.json"))

    def run_json(self, *args):
        path = os.path.join(self.dir, f"run{len(os.listdir(self.dir))}.json")
        done = run_cli(["run", *args, "--json", path, "--no-report"], env=self.env)
        return done, outcomes(path)

    def test_parallel_1_and_2_give_the_same_outcomes(self):
        serial_run, serial = self.run_json("tests/cases/mixed.py", "--parallel", "1")
        parallel_run, parallel = self.run_json("tests/cases/mixed.py", "--parallel", "2")
        self.assertEqual(serial, parallel)
        self.assertEqual(sorted(set(serial.values())), ["error", "failed", "passed", "skipped"])
        self.assertEqual((serial_run.returncode, parallel_run.returncode), (1, 1))
        self.assertIn("class fixture broken on purpose", parallel_run.stderr)
        self.assertIn("AssertionError: Tuples differ", parallel_run.stderr)
        self.assertIn("UndefinedColumn", parallel_run.stderr)
        self.assertIn("FAILED (failures=1, errors=2, skipped=1)", parallel_run.stderr)

    def test_a_crashing_worker_is_reported_and_the_run_finishes(self):
        done, results = self.run_json("tests/cases/crash.py", "--parallel", "2")
        self.assertEqual(done.returncode, 1, done.stderr)
        by_name = {k.rsplit(".", 1)[1]: v for k, v in results.items()}
        self.assertEqual(by_name, {"test_a_before": "passed", "test_b_exits": "error", "test_c_after": "passed",
                                   "test_segfault": "error", "test_still_runs": "passed"})
        self.assertIn("exited with code 3 while running this test", done.stderr)
        self.assertIn("was killed by SIGSEGV while running this test", done.stderr)

    def test_worker_databases_are_dropped(self):
        server_dsn = tddkit.get_session().server_dsn

        def databases():
            with psycopg.connect(server_dsn, autocommit=True) as admin:
                return {r[0] for r in admin.execute("SELECT datname FROM pg_database")}

        before = databases()
        done = run_cli(["run", "tests/cases/mixed.py", "--parallel", "2", "--no-report", "--dsn", server_dsn],
                       env=self.env)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertEqual(databases() - before, set())

    def test_the_report_compares_the_wall_time_with_the_serial_estimate_and_says_slower_when_it_was(self):
        # Two classes of one 1 ms test: starting the workers makes the run far slower than its tests.
        path = Path(self.dir, "test_two_classes.py")
        path.write_text("import tddkit\n\n\nclass A(tddkit.TDDTestCase):\n    def test_a(self):\n        pass\n\n\n"
                        "class B(tddkit.TDDTestCase):\n    def test_b(self):\n        pass\n")
        done = run_cli(["run", str(path), "--parallel", "2", "--durations", "0"], env=self.env)
        self.assertEqual(done.returncode, 0, done.stderr)
        [line] = [line for line in done.stderr.splitlines() if line.startswith("  parallel:")]
        found = re.fullmatch(r"  parallel: \d+ workers, wall ([\d.]+) s vs ([\d.]+) s serial estimate \(the sum of "
                             r"this run's test times in the workers\): ([\d.]+)x slower than the estimate, workers "
                             r"busy [\d.]+% of the wall time", line)
        self.assertIsNotNone(found, line)
        wall, estimate, slower = (float(found.group(i)) for i in (1, 2, 3))
        self.assertGreater(wall, estimate)
        # the times are printed to 1 ms: the ratio of the printed ones is as exact as that rounding allows
        bound = slower * (0.0005 / (estimate - 0.0005) + 0.0005 / wall) + 0.01  # both rounded to 0.5 ms at most
        self.assertAlmostEqual(slower, wall / estimate, delta=bound)
        self.assertNotIn("speedup", done.stderr)

    def test_shards_cover_every_test_exactly_once(self):
        self.run_json("examples")  # records durations
        _, everything = self.run_json("examples")
        seen = []
        for k in (1, 2, 3):
            done, part = self.run_json("examples", "--shard", f"{k}/3")
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertTrue(part, f"shard {k}/3 is empty")
            seen += list(part)
        self.assertEqual(sorted(seen), sorted(everything))


class ArgumentTests(unittest.TestCase):
    def test_bad_values_are_one_line_errors(self):
        for args in (["--parallel", "0"], ["--parallel", "many"], ["--shard", "4/3"], ["--shard", "x"]):
            with self.subTest(args=args):
                done = run_cli(["run", "tests/cases/trivial.py", *args])
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertNotIn("Traceback", done.stderr)
                self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)

    def test_parse_helpers(self):
        self.assertEqual(parse_parallel("auto"), os.cpu_count())
        self.assertEqual(parse_shard("2/5"), (2, 5))
        with self.assertRaises(ConfigError):
            parse_shard("0/2")

    def test_shards_balance_durations_longest_first(self):
        class Fake(unittest.TestCase):
            def runTest(self):
                pass

        groups = []
        for name in "abcdef":
            cls = type(f"C{name}", (Fake,), {})
            groups.append([cls()])
        durations = {g[0].id(): w for g, w in zip(groups, (6, 5, 4, 3, 2, 1), strict=True)}
        parts = [shard(groups, durations, k, 2) for k in (1, 2)]
        loads = [sum(durations[g[0].id()] for g in part) for part in parts]
        self.assertEqual(sorted(loads), [10, 11])
        self.assertEqual(sum(len(p) for p in parts), 6)


if __name__ == "__main__":
    unittest.main()
