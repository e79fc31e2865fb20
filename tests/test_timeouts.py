"""The per-test timeout: a stuck test fails where it was stuck and the run goes on; off, no timer runs."""

import json
import os
import signal
import tempfile
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from tddkit.config.settings import load_settings
from tddkit.errors import ConfigError
from tddkit.isolation import timeouts
from tests.cases import stuck
from tests.support import ROOT, child_env, run_cli, run_suite, suite_of

STUCK = str(ROOT / "tests" / "cases" / "stuck.py")

EXPECTED = {
    "Stuck.test_a_sleeps": "error", "Stuck.test_b_after": "passed", "Stuck.test_c_deadlocks": "error",
    "Stuck.test_d_after": "passed", "Stuck.test_e_waits_for_a_query": "error",
    "Stuck.test_f_the_query_was_cancelled": "passed", "Stuck.test_g_swallows_exceptions": "error",
    "Fast.test_timer_runs_only_during_tests": "passed",
}

#: BlocksTheTimer's outcomes, in a parallel run.
BLOCKED = {"BlocksTheTimer.test_blocks_the_timer": "error", "BlocksTheTimer.test_after": "passed"}


class TimeoutRunTests(unittest.TestCase):
    def run_stuck(self, args, env):
        with tempfile.TemporaryDirectory() as tmp:
            json_path = os.path.join(tmp, "run.json")
            started = time.monotonic()
            done = run_cli(["run", STUCK, "--no-report", "--json", json_path, *args],
                           env=child_env(TDDKIT_DURATIONS_FILE="", **env))
            seconds = time.monotonic() - started
            with open(json_path) as fh:
                seen = {t["test_id"].split("stuck.", 1)[1]: t["outcome"] for t in json.load(fh)["tests"]}
        return done, seen, seconds

    def test_a_stuck_test_fails_with_the_stack_where_it_was_stuck_and_the_run_goes_on(self):
        serial = ["-k", "Stuck", "-k", "Fast"]  # not BlocksTheTimer: only a worker can be given up on
        runs = {"--timeout, serial": ([*serial, "--timeout", "0.5"], {}),
                "--timeout, parallel": (["--timeout", "0.5", "--parallel", "2"], {}),
                "the setting": (serial, {"TDDKIT_TEST_TIMEOUT": "0.5"})}
        with ThreadPoolExecutor(len(runs)) as pool:
            done = dict(zip(runs, pool.map(lambda item: self.run_stuck(*item), runs.values()), strict=True))
        for name, (run, seen, seconds) in done.items():
            with self.subTest(name):
                self.assertEqual(run.returncode, 1, run.stderr)
                parallel = "--parallel" in runs[name][0]
                self.assertEqual(seen, {**EXPECTED, **(BLOCKED if parallel else {})}, run.stderr)
                if parallel:
                    self.assertIn("was stopped after", run.stderr)
                    self.assertIn("far past test_timeout = 0.5 s (the test is stuck where its timer cannot reach "
                                  "it) while running this test; the run went on without it", run.stderr)
                self.assertEqual(run.stderr.count("TestTimeout: the test ran longer than test_timeout = 0.5 s; the "
                                                  "traceback shows where it was stuck"), 4, run.stderr)
                for line in ("time.sleep(30)  # STUCK IN SLEEP", "lock.acquire()  # STUCK ON A LOCK",
                             'self.conn.execute("SELECT pg_sleep(30)")  # STUCK IN A QUERY',
                             "time.sleep(30)  # STUCK WHILE CATCHING EXCEPTION"):
                    self.assertIn(line, run.stderr)
                self.assertLess(seconds, 25, "no test waited for its sleep, lock or query to end")

    def test_off_no_timer_runs(self):
        self.assertEqual(load_settings(environ={}).test_timeout, 0)
        result = run_suite(suite_of(stuck.Fast))
        self.assertTrue(result.wasSuccessful(), result.output)
        self.assertEqual(signal.getitimer(signal.ITIMER_REAL), (0.0, 0.0))


class TimerTests(unittest.TestCase):
    def test_bad_values_are_refused(self):
        for value in ("-1", "soon", "100000"):
            with self.subTest(value), self.assertRaises(ConfigError) as caught:
                load_settings(environ={"TDDKIT_TEST_TIMEOUT": value})
            self.assertIn("environment variable TDDKIT_TEST_TIMEOUT: setting 'test_timeout' has a bad value",
                          str(caught.exception))

    def test_arming_and_disarming_costs_microseconds(self):
        self.addCleanup(signal.signal, signal.SIGALRM, signal.getsignal(signal.SIGALRM))
        rounds = 5000
        started = time.perf_counter()
        for _ in range(rounds):
            timeouts.arm(30.0)
            timeouts.disarm()
        per_test = (time.perf_counter() - started) / rounds
        self.assertEqual(signal.getitimer(signal.ITIMER_REAL), (0.0, 0.0))
        self.assertLess(per_test, 50e-6, f"{per_test * 1e6:.1f} µs per test")


if __name__ == "__main__":
    unittest.main()
