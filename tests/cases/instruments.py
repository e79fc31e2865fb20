"""Inner suites for test_instruments: custom metrics, alerts, resources, memory snapshots."""

import os
import sys
import time
from pathlib import Path

import tddkit
from tddkit.errors import PerformanceWarning


class RecordsMetrics(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.record_metric("fixture_rows", 3, table="users")

    def test_records_with_metadata(self):
        self.record_metric("render_ms", 4.0, page="home")
        self.record_metric("render_ms", 6.0, page="cart")

    def test_warning_at_1_2x(self):
        with self.assertWarns(PerformanceWarning) as caught:
            line = sys._getframe().f_lineno + 1
            self.record_metric("render_ms", 12.0)
        self.assertTrue(str(caught.warning).startswith("warning: render_ms = 12"), caught.warning)
        self.assertEqual((caught.filename, caught.lineno), (__file__, line), "the warning names the test's line")

    def test_critical_at_2x(self):
        with self.assertWarns(PerformanceWarning) as caught:
            self.record_metric("render_ms", 20.0)
        self.assertTrue(str(caught.warning).startswith("critical: render_ms = 20"), caught.warning)

    def test_memory_snapshot(self):
        before = self.memory_snapshot("before")
        kept = b"x" * (64 * 2**20)  # large beside what other threads may free meanwhile (seen: 14 MB)
        after = self.memory_snapshot("after")
        self.assertGreater(after["rss_mb"], before["rss_mb"] + 48)
        self.assertGreaterEqual(after["vms_mb"], after["rss_mb"])
        del kept


class RecordsClassMetric(tddkit.TDDTestCase):
    """A metric recorded by the class only (no threshold involved), for runs in worker processes."""

    @classmethod
    def setUpTestData(cls):
        cls.record_metric("fixture_rows", 3, table="users")

    def test_runs(self):
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (1,))


class FailsOnAlert(tddkit.TDDTestCase):
    def test_over_threshold(self):
        self.record_metric("render_ms", 12.0)


#: Tests that must overlap wait for each other up to this long (a failed overlap takes this long to show).
MEET_TIMEOUT = 60.0
#: Tests that must never overlap each wait this long for the other, so that two that wrongly ran at once
#: would overlap for certain instead of by luck.
HOLD_SECONDS = 0.5


def _log_interval(name, group, wait):
    """Append this test's [start, end] to the file named by TDDKIT_TEST_INTERVALS; in between, wait up to
    ``wait`` seconds for every test of ``group`` to have arrived (a start barrier: arrival files beside the log)."""
    log = os.environ["TDDKIT_TEST_INTERVALS"]
    start = time.time()
    Path(f"{log}.{name}.arrived").touch()
    deadline = start + wait
    while time.time() < deadline and not all(Path(f"{log}.{other}.arrived").exists() for other in group):
        time.sleep(0.01)
    with open(log, "a") as fh:
        fh.write(f"{name} {start} {time.time()}\n")


def _hold_shared_file(name):
    _log_interval(name, ("resource_a", "resource_b"), HOLD_SECONDS)


def _meet_the_other_free_test(name):
    _log_interval(name, ("free_c", "free_d"), MEET_TIMEOUT)


@tddkit.resources("shared-file")
class UsesSharedFileA(tddkit.TDDTestCase):
    def test_a(self):
        _hold_shared_file("resource_a")


class UsesSharedFileB(tddkit.TDDTestCase):
    @tddkit.resources("shared-file")
    def test_b(self):
        _hold_shared_file("resource_b")


class FreeC(tddkit.TDDTestCase):
    def test_c(self):
        _meet_the_other_free_test("free_c")


class FreeD(tddkit.TDDTestCase):
    def test_d(self):
        _meet_the_other_free_test("free_d")


class WaitsForHeldResource(tddkit.TDDTestCase):
    @tddkit.resources("sandbox")
    def test_waits(self):
        pass
