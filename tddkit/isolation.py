"""The isolation core: a class-scope transaction with shared data, and one rolled-back savepoint per test.

Per scope (a TestCase class, a pytest module): borrow one pooled
connection, open a transaction, create the shared data, set ``SAVEPOINT
tddkit_test``. Per test: run it, then ``ROLLBACK TO SAVEPOINT tddkit_test``
(one round trip; the savepoint survives and serves the next test). After the
scope: roll back, release the session advisory locks its tests kept, return
the connection. A connection a test left unusable (lost, or busy with an
unfinished COPY) is let go, and the next test opens a new one (the shared
data is created again). TDDTestCase, the pytest plugin and the watch loop
all use this module; none of it knows about unittest.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import psycopg
from psycopg import pq

from . import leaks
from .connection import GuardedConnection
from .errors import IsolationError, ServerError, TddkitError
from .instruments import tracer
from .lending import Borrowed, Lender
from .meter import TestMeter, now
from .metrics import ClassMetrics, TestMetrics
from .temp_tables import schema_cache

SAVEPOINT = b"SAVEPOINT tddkit_test"
ROLLBACK_TO = b"ROLLBACK TO SAVEPOINT tddkit_test"
#: Ends the scope's transaction and frees the session-level advisory locks its tests kept.
END_SCOPE = b"ROLLBACK; SELECT pg_advisory_unlock_all()"

LOST_NOTE = ("tddkit: the test's connection was lost while it ran; tddkit discarded it and the next test gets a "
             "new one (setUpTestData runs again)")

SharedData = Callable[[GuardedConnection], None]


class ClassTransaction:
    """One scope's connection and transaction; ``shared_data(conn)`` runs once per connection it opens."""

    def __init__(self, lender: Lender, *, name: str, shared_data: Optional[SharedData] = None,
                 commit_as_savepoint: Optional[bool] = None) -> None:
        self.lender = lender
        self.settings = lender.database.settings
        self.name = name
        self.shared_data = shared_data
        #: ``conn.commit()`` / ``rollback()`` of test code act as application code's (joined mode).
        self.commit_as_savepoint = self.settings.commit_as_savepoint if commit_as_savepoint is None \
            else commit_as_savepoint
        self.metrics = ClassMetrics(name)
        self.conn: Optional[GuardedConnection] = None
        #: True while the shared data is created or a test runs: the connection may be lent to app code.
        self.in_use = False
        #: The leak log's high-water mark when the transaction began (see ``leaks``).
        self.leak_mark = 0
        #: Objects built on the current connection (e.g. a SQLAlchemy engine); cleared when it is released.
        self.connection_extras: Dict[str, Any] = {}

    def active_connection(self) -> Optional[GuardedConnection]:
        """The connection, while shared data is created or a test runs; else None."""
        return self.conn if self.in_use else None

    # --- the scope ---------------------------------------------------------------------

    def connection(self) -> GuardedConnection:
        """The scope's connection, inside its transaction; a new one if the last was let go or lost."""
        conn = self.conn
        if conn is not None and (conn.lost or conn.busy):
            self.release()
            conn = None
        if conn is None:
            conn = self._open()
        return conn

    def _open(self) -> GuardedConnection:
        """Borrow a connection and open the transaction; a pooled connection that died while idle is replaced."""
        attempts = self.settings.pool_max_size + 1
        for attempt in range(attempts):
            started = now()
            try:
                conn = self.lender.getconn()
            except TddkitError as exc:  # the pool's or the server's state: tddkit's frames would hide the message
                raise exc.with_traceback(None)
            try:
                self._begin(conn, started)
                return conn
            except psycopg.OperationalError:
                if not conn.lost or attempt == attempts - 1:
                    raise
                gone = self.lender.probe.gone_reason()
                if gone:
                    raise ServerError(gone) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _begin(self, conn: GuardedConnection, started: float) -> None:
        self.conn = conn
        queries = conn.query_count
        try:
            schema_cache.prepare(conn)
            self.metrics.connection_ms = (now() - started) * 1000
            if self.settings.leak_check:
                self.leak_mark = leaks.mark(conn.internal_cursor())  # psycopg sends BEGIN first
            if self.shared_data is not None:
                self._create_shared_data(conn, self.shared_data)
            conn.run_internal(SAVEPOINT)  # psycopg sends BEGIN first if nothing ran yet
        except BaseException:
            self.release()
            raise
        self.metrics.query_count = conn.query_count - queries
        self.metrics.setup_ms = (now() - started) * 1000

    def _create_shared_data(self, conn: GuardedConnection, shared_data: SharedData) -> None:
        conn.guard(True)
        self.in_use = True
        if self.commit_as_savepoint:
            conn.join()
        try:
            shared_data(conn)
        finally:
            self.in_use = False
            if self.commit_as_savepoint and conn.joins:
                conn.leave(commit=True)
            conn.joins.clear()
            conn.guard(False)

    def release(self) -> None:
        """End the transaction and return the connection (a lost or busy one is discarded). Safe to call twice."""
        conn, self.conn = self.conn, None
        self.in_use = False
        self.connection_extras.clear()
        if conn is None:
            return
        conn.guard(False)
        conn.joins.clear()
        if conn.busy:
            conn.close()  # nothing else can end a COPY or stream the test left behind
        try:
            if not conn.closed:
                conn.run_internal(END_SCOPE)
        except psycopg.Error:
            conn.close()  # its state is unknown: the pool replaces it
        finally:
            self.lender.putconn(conn)

    # --- tests -------------------------------------------------------------------------

    def begin_test(self, meter: TestMeter) -> "TestScope":
        """Start a test: its connection ready and guarded, its meter and borrowed connections running."""
        conn = self.connection()
        meter.metrics.class_metrics = self.metrics
        meter.connected(conn.query_count, conn.query_time)
        scope = TestScope(self, conn, meter, self.lender.track_borrowed())
        conn.guard(True)
        if self.commit_as_savepoint:
            conn.join(base="tddkit_test")
        self.in_use = True
        return scope

    def explain(self, exc: BaseException) -> Optional[str]:
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
        if isinstance(exc, psycopg.OperationalError) and self.conn is not None and self.conn.lost:
            gone = self.lender.probe.gone_reason()
            if gone:
                return f"tddkit: {gone}"
            return ("tddkit: the test's connection was lost (its backend was terminated); tddkit discards it and "
                    "gives the next test a new one (setUpTestData runs again)")
        return None


class TestScope:
    """One running test: ``end()`` rolls back everything it did and returns its metrics."""

    __test__ = False

    def __init__(self, transaction: ClassTransaction, conn: GuardedConnection, meter: TestMeter,
                 borrowed: Borrowed) -> None:
        self.transaction = transaction
        self.conn = conn
        self.meter = meter
        self.borrowed = borrowed
        #: Set by the caller when the test's setUp or body failed: problems found afterwards are not reported.
        self.failed = False
        self._allocations = tracer.before_test()

    def end(self) -> TestMetrics:
        """Undo the test: return what it borrowed, roll back to the savepoint; raise what went wrong after it."""
        conn, meter = self.conn, self.meter
        self.transaction.in_use = False
        conn.guard(False)
        conn.joins.clear()  # units of work app code left open: the rollback below undoes them
        meter.queries_done(conn.query_count, conn.query_time)
        try:
            self.borrowed.reclaim()  # connections the test borrowed and kept
            self._rollback()
        finally:
            metrics = meter.finish()
            if self._allocations is not None and \
                    metrics.memory_delta > self.transaction.settings.memory_warning_mb * 2**20:
                metrics.allocations = tracer.top_sites(self._allocations)
            self._allocations = None
        return metrics

    def _rollback(self) -> None:
        """ROLLBACK TO the test's savepoint; a connection that cannot is let go (the next test reopens the scope)."""
        conn, transaction = self.conn, self.transaction
        if conn.busy:
            transaction.release()
            self._report(IsolationError(
                "the test left a COPY or a streamed query unfinished on self.conn, so no statement could run "
                "on it any more; finish it (use 'with cursor.copy(...)', iterate a stream to its end) or close "
                "it. tddkit closed that connection; the next test gets a new one (setUpTestData runs again)"
            ))
            return
        if conn.lost:  # the test saw it break and reported (or expected) that
            transaction.release()
            return
        if conn.info.transaction_status == pq.TransactionStatus.IDLE:
            transaction.release()
            transaction.lender.reset_database()
            raise IsolationError(
                "the test ended the transaction that isolates it (a COMMIT or ROLLBACK hidden in the SQL it "
                "ran?). tddkit cloned the test database again from the schema template, so what it committed "
                "is gone; the next test starts a new class transaction (setUpTestData runs again)."
            )
        try:
            leaked = self._rollback_to_savepoint(conn)
        except psycopg.Error as exc:
            transaction.release()
            if conn.lost:  # broke after the test's last statement: the test did not see it
                exc.add_note(LOST_NOTE)
                self._report(exc)
                return
            raise IsolationError(
                f"could not roll back to the test's savepoint ({exc}); did the test release it? "
                "The next test starts a new class transaction (setUpTestData runs again)."
            ) from None
        if leaked:
            transaction.release()
            transaction.lender.reset_database()
            raise leaks.leak_error(leaked)

    def _rollback_to_savepoint(self, conn: GuardedConnection) -> Optional[str]:
        """The per-test rollback; with the leak check, the tables other connections wrote (else None)."""
        if not self.transaction.settings.leak_check:
            conn.run_internal(ROLLBACK_TO)
            return None
        cursor = conn.internal_cursor()
        cursor.execute(leaks.rollback_and_check(self.transaction.leak_mark), prepare=False)
        return leaks.written_tables(cursor)

    def _report(self, exc: BaseException) -> None:
        """Raise a problem found after the test, unless its setUp or body already failed."""
        if not self.failed:
            raise exc
