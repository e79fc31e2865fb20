"""In-test instruments: custom metrics and alerts, named resources, memory snapshots and tracing."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.conninfo import make_conninfo

import tddkit
from tddkit.isolation.file_locks import FileResourceLocks
from tddkit.isolation.named_resources import ResourceLocks
from tests.cases import instruments
from tests.support import ROOT, child_env, run_cli, run_suite, suite_of, wait_until


class SessionSettings:
    """Change the session's settings for one test, then put them back."""

    def __init__(self, test, **changes):
        settings = tddkit.get_session().settings
        for key, value in changes.items():
            old = getattr(settings, key)
            setattr(settings, key, value)
            test.addCleanup(setattr, settings, key, old)


class CustomMetricTests(unittest.TestCase):
    def setUp(self):
        thresholds = {**tddkit.get_session().settings.thresholds, "render_ms": 10.0}
        SessionSettings(self, thresholds=thresholds)

    def test_metrics_reach_report_and_json_with_metadata_and_alerts(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.json")
            result = run_suite(suite_of(instruments.RecordsMetrics), show_report=True, json_path=path)
            with open(path) as fh:
                data = json.load(fh)
        self.assertTrue(result.wasSuccessful(), result.output)
        tests = {t["test_id"].rsplit(".", 1)[1]: t for t in data["tests"]}
        self.assertEqual(tests["test_records_with_metadata"]["custom"], [
            {"name": "render_ms", "value": 4.0, "metadata": {"page": "home"}},
            {"name": "render_ms", "value": 6.0, "metadata": {"page": "cart"}},
        ])
        self.assertEqual(data["classes"][0]["custom"], [{"name": "fixture_rows", "value": 3.0,
                                                         "metadata": {"table": "users"}}])
        row = data["metrics"]["custom:render_ms"]
        self.assertEqual((row["count"], row["min"], row["max"], row["target"], row["violations"]),
                         (4, 4.0, 20.0, 10.0, 2))
        severities = sorted((a["value"], a["severity"]) for a in data["alerts"] if a["metric"] == "render_ms")
        self.assertEqual(severities, [(12.0, "warning"), (20.0, "critical")])
        self.assertIn("custom:render_ms", result.output)
        self.assertIn("custom:fixture_rows", result.output)
        snapshots = tests["test_memory_snapshot"]["memory_snapshots"]
        self.assertEqual([s["label"] for s in snapshots], ["before", "after"])

    def test_alerts_as_failures_fails_the_test(self):
        SessionSettings(self, alerts_as_failures=True)
        result = run_suite(suite_of(instruments.FailsOnAlert))
        self.assertEqual(len(result.failures), 1, result.output)
        self.assertIn("warning: render_ms = 12 is over its threshold 10 (1.20x)", result.failures[0][1])


class WorkerCustomMetricTests(unittest.TestCase):
    def test_a_class_metric_recorded_in_a_worker_reaches_the_report(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.json")
            done = run_cli(["run", "tests/cases/instruments.py", "-k", "RecordsClassMetric", "--parallel", "2",
                            "--json", path], env=child_env(TDDKIT_DURATIONS_FILE=""))
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(path) as fh:
                data = json.load(fh)
        self.assertRegex(done.stderr, r"custom:fixture_rows\s+1\s+3\.000")
        self.assertEqual(data["classes"][0]["custom"], [{"name": "fixture_rows", "value": 3.0,
                                                         "metadata": {"table": "users"}}])
        self.assertEqual(data["metrics"]["custom:fixture_rows"]["count"], 1)


def intervals(path):
    found = {}
    for line in Path(path).read_text().splitlines():
        name, start, end = line.split()
        found[name] = (float(start), float(end))
    return found


def overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


class ResourceTests(unittest.TestCase):
    def test_shared_resource_never_overlaps_while_free_tests_do(self):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "intervals")
            durations = os.path.join(tmp, "durations.json")
            prefix = "tests.cases.instruments."
            Path(durations).write_text(json.dumps({
                f"{prefix}UsesSharedFileA.test_a": 0.5, f"{prefix}UsesSharedFileB.test_b": 0.5,
                f"{prefix}FreeC.test_c": 1.0, f"{prefix}FreeD.test_d": 1.0}))
            env = child_env(TDDKIT_TEST_INTERVALS=log, TDDKIT_DURATIONS_FILE=durations)
            done = run_cli(["run", "tests/cases/instruments.py", "-k", "UsesSharedFile", "-k", "Free",
                            "--parallel", "2", "--no-report"], env=env)
            self.assertEqual(done.returncode, 0, done.stderr)
            seen = intervals(log)
        self.assertFalse(overlap(seen["resource_a"], seen["resource_b"]), seen)
        self.assertTrue(overlap(seen["free_c"], seen["free_d"]), seen)

    def test_concurrent_runs_on_one_server_take_turns(self):
        self.assert_concurrent_runs_take_turns(["--dsn", tddkit.get_session().server_dsn])

    def test_concurrent_runs_each_on_its_own_server_take_turns(self):
        self.assert_concurrent_runs_take_turns([])

    def assert_concurrent_runs_take_turns(self, args):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "intervals")
            env = child_env(TDDKIT_TEST_INTERVALS=log, TDDKIT_DURATIONS_FILE="")
            runs = [subprocess.Popen([sys.executable, "-m", "tddkit", "run", "tests/cases/instruments.py", "-k", k,
                                      *args, "--no-report"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for k in ("UsesSharedFileA", "UsesSharedFileB")]
            outputs = [run.communicate(timeout=120) for run in runs]
            self.assertEqual([run.returncode for run in runs], [0, 0], outputs)
            seen = intervals(log)
        self.assertFalse(overlap(seen["resource_a"], seen["resource_b"]), seen)

    def test_a_resource_held_past_the_timeout_names_resource_and_holder(self):
        SessionSettings(self, resource_timeout=0.3)
        session = tddkit.get_session()
        locks = session._resource_locks()
        holder = FileResourceLocks(locks.directory, 1.0) if isinstance(locks, FileResourceLocks) \
            else ResourceLocks(session.server_dsn, 1.0)
        holder.acquire(["sandbox"], "tests.elsewhere.Holder.test_holds_the_sandbox")
        self.addCleanup(holder.close)
        old_timeout, locks.timeout = locks.timeout, 0.3
        self.addCleanup(setattr, locks, "timeout", old_timeout)
        locks.close()  # reconnect with the shorter lock_timeout
        result = run_suite(suite_of(instruments.WaitsForHeldResource))
        self.assertEqual(len(result.errors), 1, result.output)
        message = result.errors[0][1]
        self.assertIn("resource 'sandbox' was still held after resource_timeout=0.3 s", message)
        self.assertIn("Holder.test_holds_the_sandbox", message)

    def test_a_statement_timeout_in_the_dsn_does_not_cut_the_wait_for_a_resource(self):
        server_dsn = tddkit.get_session().server_dsn
        dsn = make_conninfo(server_dsn, options="-c statement_timeout=1")
        holder, waiter = ResourceLocks(dsn, 30.0), ResourceLocks(dsn, 30.0)
        self.addCleanup(holder.close)
        self.addCleanup(waiter.close)
        holder.acquire(["dsn-timeout"], "holder")
        with ThreadPoolExecutor(1) as pool, psycopg.connect(server_dsn, autocommit=True) as watcher:
            waited = pool.submit(waiter.acquire, ["dsn-timeout"], "waiter-of-dsn-timeout")
            wait_until(lambda: waited.done() or watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'tddkit waiter-of-dsn-timeout' "
                "AND wait_event_type = 'Lock'").fetchone(), 10, interval=0.01)
            holder.release(["dsn-timeout"])
            self.assertGreater(waited.result(timeout=10), 0.0)
        waiter.release(["dsn-timeout"])


class TraceMemoryTests(unittest.TestCase):
    def test_trace_memory_names_the_line_that_kept_20mb(self):
        done = run_cli(["run", "tests/cases/measured.py", "-k", "test_keeps_20mb", "--trace-memory"])
        self.assertEqual(done.returncode, 0, done.stderr)
        source = (ROOT / "tests/cases/measured.py").read_text().splitlines()
        line = next(i for i, text in enumerate(source, 1) if 'b"x" * (20 * 2**20)' in text)
        self.assertRegex(done.stderr, rf"(19|20)\.\d+ MB  \S*tests/cases/measured.py:{line}\b")

    def test_without_the_flag_no_allocation_sites_are_listed(self):
        done = run_cli(["run", "tests/cases/measured.py", "-k", "test_keeps_20mb"])
        self.assertIn("Memory warnings", done.stderr)
        self.assertNotIn("allocated and kept by", done.stderr)


if __name__ == "__main__":
    unittest.main()
