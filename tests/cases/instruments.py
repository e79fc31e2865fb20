"""Inner suites for test_instruments: custom metrics, alerts, resources, memory snapshots."""

import os
import sys
import time

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
        kept = b"x" * (8 * 2**20)
        after = self.memory_snapshot("after")
        self.assertGreater(after["rss_mb"], before["rss_mb"] + 6)
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


def _log_interval(name):
    """Append this test's [start, end] to the file named by TDDKIT_TEST_INTERVALS."""
    start = time.time()
    time.sleep(0.3)
    with open(os.environ["TDDKIT_TEST_INTERVALS"], "a") as fh:
        fh.write(f"{name} {start} {time.time()}\n")


@tddkit.resources("shared-file")
class UsesSharedFileA(tddkit.TDDTestCase):
    def test_a(self):
        _log_interval("resource_a")


class UsesSharedFileB(tddkit.TDDTestCase):
    @tddkit.resources("shared-file")
    def test_b(self):
        _log_interval("resource_b")


class FreeC(tddkit.TDDTestCase):
    def test_c(self):
        _log_interval("free_c")


class FreeD(tddkit.TDDTestCase):
    def test_d(self):
        _log_interval("free_d")


class WaitsForHeldResource(tddkit.TDDTestCase):
    @tddkit.resources("sandbox")
    def test_waits(self):
        pass
