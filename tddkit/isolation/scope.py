"""TestScope: what one running test started with, so its ClassTransaction can undo it and measure it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg

from .._compat import running_threads
from ..config.settings import Settings
from ..errors import IsolationError
from ..measure.instruments import tracer
from ..measure.meter import TestMeter
from ..measure.metrics import TestMetrics
from ..measure.queries import alert_repeated
from .connection import GuardedConnection
from .lending import Borrowed, Probe

#: PostgreSQL's error for a prepared statement whose table changed shape since it was planned.
STALE_PLAN = "cached plan must not change result type"
#: Names of the worker threads of an event loop (anyio's and asyncio's default executor).
EVENT_LOOP_WORKERS = ("AnyIO worker thread", "asyncio_")


class TestScope:
    """One running test: its connection, meter and borrowed connections (ended by ``ClassTransaction.end_test``)."""

    __test__ = False

    def __init__(self, conn: GuardedConnection, meter: TestMeter, borrowed: Borrowed, settings: Settings,
                 probe: Probe) -> None:
        self.conn = conn
        self.meter = meter
        self.borrowed = borrowed
        self.settings = settings
        self.probe = probe
        #: Set by the runner while the test's setUp or body has failed: problems found afterwards are not reported.
        self.failed = False
        #: Objects the test's helpers made for it once (e.g. its SQLAlchemy Connection).
        self.extras: dict[str, Any] = {}
        self._allocations = tracer.before_test()
        self._threads = frozenset(running_threads())
        #: The runner's work put off until the process waits for the server anyway (the previous test's record).
        self.catch_up: Callable[[], None] | None = None

    def threads_left(self) -> list[threading.Thread]:
        """Threads started during the test that are still running, but an event loop's idle worker threads (an
        async test's ``to_thread`` / sync FastAPI dependencies: they run only what the test awaited)."""
        if len(running_threads()) <= len(self._threads):  # no thread started since (the common case)
            return []
        return [t for t in threading.enumerate() if t.ident not in self._threads and t.is_alive()
                and not t.name.startswith(EVENT_LOOP_WORKERS)]

    def threads_error(self) -> IsolationError | None:
        """The error of a test that left threads running (``threads_left``), else None."""
        left = self.threads_left()
        if not left:
            return None
        names = ", ".join(repr(t.name) for t in left)
        return IsolationError(
            f"the test left thread {names} running; it could still use the test's connection and write into the "
            "next test. Join the threads a test starts before it ends (thread.join()). tddkit closed the "
            "connection; the next test gets a new one (setUpTestData runs again)")

    def body_done(self) -> str | None:
        """The test's body has ended: warn about the statements it repeated (N+1); with ``alerts_as_failures``,
        the message to fail the test with instead (None once its setUp or body failed)."""
        meter = self.meter
        meter.body_done()
        repeated = meter.metrics.repeated_statements
        if not repeated:
            return None
        failure = alert_repeated(meter.metrics.test_id, repeated, as_failure=self.settings.alerts_as_failures)
        return None if self.failed else failure

    def while_rolling_back(self) -> None:
        """What needs no database, done while the server rolls the test back: the meter's ``wrap_up``, ``catch_up``."""
        self.meter.wrap_up()
        if self.catch_up is not None:
            self.catch_up()

    def finish_metrics(self) -> TestMetrics:
        """The meter's complete record, with the allocation sites when the test's memory grew past the warning."""
        metrics = self.meter.finish()
        if self._allocations is not None and metrics.memory_delta > self.settings.memory_warning_mb * 2**20:
            metrics.allocations = tracer.top_sites(self._allocations)
        self._allocations = None
        return metrics

    def report(self, exc: BaseException) -> None:
        """Raise a problem found after the test, unless its setUp or body already failed."""
        if not self.failed:
            raise exc

    def explain(self, exc: BaseException) -> str | None:
        """A line on what tddkit knows about a database error's cause and what to do, if anything."""
        settings = self.settings
        if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc):
            return (f"tddkit: the statement ran longer than statement_timeout = {settings.statement_timeout:g} s; "
                    "make it faster or raise the setting (TDDKIT_STATEMENT_TIMEOUT, [tool.tddkit] "
                    "statement_timeout; 0 turns it off)")
        if isinstance(exc, psycopg.errors.LockNotAvailable) and "lock timeout" in str(exc):
            return (f"tddkit: the statement waited longer than lock_timeout = {settings.lock_timeout:g} s for a "
                    "lock another connection holds. If that is this test's own self.conn, the lock lasts until "
                    "the test ends: take it on one connection only. Setting: TDDKIT_LOCK_TIMEOUT, "
                    "[tool.tddkit] lock_timeout; 0 turns it off")
        if isinstance(exc, psycopg.errors.FeatureNotSupported) and STALE_PLAN in str(exc):
            self.conn._tddkit.schema_changed = True  # the test's rollback deallocates every prepared statement
            return ("tddkit: a statement psycopg had prepared on the test's connection no longer fits the schema: "
                    "something tddkit cannot see changed a table it reads (DDL inside a function?). tddkit drops the "
                    "prepared statements after this test; to never prepare any, set prepare_threshold = 0 "
                    "(TDDKIT_PREPARE_THRESHOLD, [tool.tddkit])")
        if isinstance(exc, psycopg.OperationalError) and self.conn._tddkit.lost:
            gone = self.probe.gone_reason()
            if gone:
                return f"tddkit: {gone}"
            return ("tddkit: the test's connection was lost (its backend was terminated); tddkit discards it and "
                    "gives the next test a new one (setUpTestData runs again)")
        return None
