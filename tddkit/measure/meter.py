"""The per-test meter: times a test's phases, counts its SQL and reads its memory into a TestMetrics.

A test (a TDDTestCase, a pytest fixture, any runner) calls the meter at each
phase boundary: ``connected`` once its connection is ready, ``set_up`` after
its setUp, ``body_done`` after its body, ``finish`` after its cleanup. Each
call reads the clock once. The isolation core hands the test's connection the
meter's ``StatementLog`` (``connected`` returns it) for statement statistics
and N+1 detection, which sees only the statements between ``set_up`` and
``body_done`` (the body's); ``wrap_up`` keeps what it found in the
metrics. The next test's meter and log are made while the server rolls a test
back (``make_spare``), so a test starts with one ready (``TestMeter.start``).

Memory is the resident set size read before and after the test (the
reading after a test serves as the reading before the next test of its
scope, which the isolation core passes to ``connected``); on
Linux it comes from a kept-open ``/proc/self/statm`` with one ``pread`` (a few
microseconds), elsewhere from psutil.

A test's ``total_ms`` is the wall time the meter sees, from the start of its connection acquisition (after any
named-resource wait) to the end of its cleanup, so the sum of its four phases, whichever runner ran it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from .metrics import ClassMetrics, TestMetrics
from .queries import StatementLog

#: The clock of every tddkit measurement: monotonic, in seconds.
now = time.perf_counter


class _StatmReader:
    """RSS from ``/proc/self/statm``, the file kept open (reopened in a forked child)."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._page = os.sysconf("SC_PAGE_SIZE")
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._fd = None  # the inherited descriptor reads the parent's numbers

    def __call__(self) -> int:
        if self._fd is None:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        return int(os.pread(self._fd, 64, 0).split()[1]) * self._page


def _psutil_rss() -> int:
    from .metrics import process_memory

    return int(process_memory().rss)


def _choose_rss_reader() -> Callable[[], int]:
    if sys.platform.startswith("linux") and os.path.exists("/proc/self/statm"):
        return _StatmReader()
    return _psutil_rss


#: Resident set size of this process, in bytes.
rss_bytes = _choose_rss_reader()


#: The next test's meter, made while the last test was rolled back (at most one).
_spares: list[TestMeter] = []


class TestMeter:
    """Measures one test; ``metrics`` is complete once ``finish`` has run."""

    __test__ = False  # not a test class, whatever pytest thinks of the name
    __slots__ = ("metrics", "allow_repeated", "_start", "_mark", "_count", "_time", "_log")

    def __init__(self, test_id: str, class_metrics: ClassMetrics | None = None, *,
                 allow_repeated: bool = False) -> None:
        self.metrics = TestMetrics(test_id, class_metrics=class_metrics)
        #: True: no N+1 detection for this test (``@tddkit.allow_repeated_queries``).
        self.allow_repeated = allow_repeated
        self._start = self._mark = now()
        self._count = 0
        self._time = 0.0
        self._log: StatementLog | None = None

    @classmethod
    def start(cls, test_id: str, allow_repeated: bool = False) -> TestMeter:
        """A meter started now for ``test_id``: the spare made while the last test was rolled back (``make_spare``),
        else a new one."""
        if not _spares:
            return cls(test_id, allow_repeated=allow_repeated)
        meter = _spares.pop()
        meter.metrics.test_id, meter.allow_repeated = test_id, allow_repeated
        meter._start = meter._mark = now()
        return meter

    @classmethod
    def make_spare(cls) -> None:
        """Build the next test's meter and statement log now, while the process waits for the server anyway."""
        if not _spares:
            meter = cls("")
            meter._log = StatementLog()
            _spares.append(meter)

    def restart(self) -> None:
        """Start the connection phase now (time spent waiting for named resources is not the test's)."""
        self._start = self._mark = now()

    def connected(self, query_count: int, query_time: float, rss: int | None = None,
                  repeated_query_threshold: int = 0) -> StatementLog:
        """The test's connection is ready; the connection's statement counters as they stand, and the resident set
        size when it is known already (the reading after the previous test of the same scope: nothing ran since).
        Returns the log for the test's statements (N+1 detection at the threshold; 0 or ``allow_repeated``: off)."""
        moment = now()
        self.metrics.connection_ms = (moment - self._mark) * 1000
        self.metrics.rss_before = rss_bytes() if rss is None else rss
        self._count, self._time, self._mark = query_count, query_time, moment
        log = self._log
        if log is None:
            log = self._log = StatementLog()
        log.watch(0 if self.allow_repeated else repeated_query_threshold)
        return log

    def set_up(self) -> None:
        """setUp has finished: the body's statements follow."""
        moment = now()
        self.metrics.setup_ms = (moment - self._mark) * 1000
        self._mark = moment
        if self._log is not None:
            self._log.in_body = True

    def body_done(self) -> None:
        """The test body has finished (passed or not): what it repeated (N+1) is known."""
        moment = now()
        self.metrics.body_ms = (moment - self._mark) * 1000
        self._mark = moment
        log = self._log
        if log is not None:
            log.in_body = False
            self.metrics.repeated_statements = log.repeated()

    def queries_done(self, query_count: int, query_time: float) -> None:
        """The test's statements are all run: record how many and how long, from the connection's counters (their
        statistics by shape follow in ``wrap_up``)."""
        metrics = self.metrics
        metrics.query_count = query_count - self._count
        metrics.query_ms = (query_time - self._time) * 1000

    def wrap_up(self) -> None:
        """Once the test's statements have run, what needs neither the clock nor the database (done while the
        server rolls the test back): the statistics of its statements by shape, the memory reading."""
        log, self._log = self._log, None
        if log is not None:
            self.metrics.statements = log.statements()
        self.metrics.rss_after = rss_bytes()
        self.make_spare()

    def finish(self) -> TestMetrics:
        """Cleanup has finished: the complete record (wrapped up now unless ``wrap_up`` ran)."""
        if not self.metrics.rss_after:
            self.wrap_up()
        moment = now()
        self.metrics.cleanup_ms = (moment - self._mark) * 1000
        self.metrics.total_ms = (moment - self._start) * 1000
        return self.metrics


def timed_whole(test_id: str, started: float) -> TestMetrics:
    """The record of a test that told no phases apart (not a TDDTestCase), begun at ``started`` (``now()``) and
    finished now: all its time is its body."""
    elapsed = (now() - started) * 1000
    return TestMetrics(test_id, body_ms=elapsed, total_ms=elapsed)
