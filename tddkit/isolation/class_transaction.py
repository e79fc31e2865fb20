"""The isolation core: a class-scope transaction with shared data, and one rolled-back savepoint per test.

Per scope (a TestCase class, a pytest module): borrow one pooled
connection, open a transaction, create the shared data, set ``SAVEPOINT
tddkit_test``. Per test: run it, then ``ROLLBACK TO SAVEPOINT tddkit_test``
and release the session advisory locks it took (one round trip; the
savepoint survives and serves the next test). After the scope: roll back,
release the session advisory locks its shared data kept, return the
connection. A connection a test left unusable (lost, or busy with an
unfinished COPY) is let go, and the next test opens a new one (the shared
data is created again). TDDTestCase, the pytest plugin and the watch loop
all use this module; none of it knows about unittest.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import psycopg

from ..errors import ServerError, TddkitError
from ..measure.meter import TestMeter, now
from ..measure.metrics import ClassMetrics
from . import advisory_locks, leaks
from .connection import GuardedConnection
from .lending import Lender
from .scope import TestScope
from .temp_tables import schema_cache

SAVEPOINT = b"SAVEPOINT tddkit_test"
#: Moves the test savepoint after shared data made since it was set (the data is kept).
MOVE_SAVEPOINT = b"RELEASE SAVEPOINT tddkit_test; SAVEPOINT tddkit_test"
#: Ends the scope's transaction and frees the session-level advisory locks its shared data kept.
END_SCOPE = b"ROLLBACK; SELECT pg_advisory_unlock_all()"

SharedData = Callable[[GuardedConnection], None]


class ClassTransaction:
    """One scope's connection and transaction; ``shared_data(conn)`` runs once per connection it opens."""

    def __init__(self, lender: Lender, *, name: str, shared_data: Optional[SharedData] = None,
                 commit_as_savepoint: Optional[bool] = None, lent_between_tests: bool = False) -> None:
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
        #: Appended to the per-test rollback: frees the session advisory locks a test took (see ``advisory_locks``).
        self.release_locks = advisory_locks.RELEASE_ALL
        #: conn.query_count when ``release_locks`` was decided: no statement since, no lock taken since.
        self._locks_at: Optional[int] = None
        #: Objects built on the current connection (e.g. a SQLAlchemy engine); cleared when it is released.
        self.connection_extras: Dict[str, Any] = {}
        #: The connection stays lent (guarded) between tests: shared data is made whenever a fixture asks (pytest).
        self.lent_between_tests = lent_between_tests
        #: conn.query_count when the newest ``tddkit_test`` savepoint matched the data: another count means
        #: statements ran between tests (shared data made lazily), so the savepoint moves before the next test.
        self.clean_at: Optional[int] = None
        #: Whether the innermost scope has a ``tddkit_test`` savepoint yet.
        self._savepoint_here = False
        #: Nested scopes (a pytest class inside a module): (savepoint, state was clean, had a test savepoint,
        #: the release of advisory locks outside it).
        self._scopes: List[Tuple[str, bool, bool, bytes]] = []

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
                raise exc.with_traceback(None)  # noqa: B904 - the same exception, without tddkit's frames
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
            self._locks_at = queries
            self._set_savepoint(conn, SAVEPOINT, begin=True)
        except BaseException:
            self.release()
            raise
        self.clean_at, self._savepoint_here = conn.query_count, True
        self.metrics.query_count = conn.query_count - queries
        self.metrics.setup_ms = (now() - started) * 1000
        self.between_tests()

    def _set_savepoint(self, conn: GuardedConnection, statement: bytes, begin: bool = False) -> None:
        """Set or move the test savepoint; after statements ran (shared data), the advisory locks held now are
        the scope's (``begin``: the transaction may not be open yet)."""
        if conn.query_count == self._locks_at:
            if begin:
                conn.internal_cursor().execute(statement, prepare=False)  # a cursor: psycopg sends BEGIN first
            else:
                conn.run_internal(statement)
            return
        held = advisory_locks.held(conn.run_internal(statement + advisory_locks.HELD))  # statements ran: in BEGIN
        self.release_locks = advisory_locks.release_after_test(held)
        self._locks_at = conn.query_count

    def between_tests(self) -> None:
        """Lend the connection to fixtures again (pytest), guarded, once a test has ended."""
        if self.lent_between_tests and self.conn is not None:
            self.conn.guard(True)
            self.in_use = True

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

    def release(self, close: bool = False) -> None:
        """End the transaction and return the connection (a lost or busy one, or any with ``close``, is
        discarded). Safe to call twice."""
        conn, self.conn = self.conn, None
        self.in_use = False
        self.connection_extras.clear()
        self._scopes.clear()
        self.clean_at, self._savepoint_here = None, False
        self.release_locks = advisory_locks.RELEASE_ALL
        if conn is None:
            return
        conn.guard(False)
        conn.joins.clear()
        if conn.busy or close:
            conn.close()  # nothing else can end a COPY or stream the test left behind
        try:
            if not conn.closed:
                conn.run_internal(END_SCOPE + conn.deallocate_sql())
        except psycopg.Error:
            conn.close()  # its state is unknown: the pool replaces it
        finally:
            self.lender.putconn(conn)

    # --- tests -------------------------------------------------------------------------

    def begin_test(self, meter: TestMeter) -> "TestScope":
        """Start a test: its connection ready and guarded, its meter and borrowed connections running."""
        conn = self.connection()
        if not self._savepoint_here:
            self._set_savepoint(conn, SAVEPOINT)
            self._savepoint_here = True
        elif self.clean_at != conn.query_count:
            self._set_savepoint(conn, MOVE_SAVEPOINT)
        meter.metrics.class_metrics = self.metrics
        meter.connected(conn.query_count, conn.query_time)
        conn.statement_log = meter.watch_statements(self.settings.repeated_query_threshold)
        scope = TestScope(self, conn, meter, self.lender.track_borrowed())
        conn.guard(True)
        if self.commit_as_savepoint:
            conn.join(base="tddkit_test")
        self.in_use = True
        return scope

    # --- nested scopes -------------------------------------------------------------------

    def push_scope(self) -> None:
        """Open a nested scope (a pytest class in a module): what it creates is gone at ``pop_scope``."""
        conn = self.connection()
        name = f"tddkit_scope_{len(self._scopes) + 1}"
        conn.run_internal(f"SAVEPOINT {name}".encode())
        self._scopes.append((name, self.clean_at == conn.query_count, self._savepoint_here, self.release_locks))
        self.clean_at, self._savepoint_here = None, False

    def pop_scope(self) -> None:
        """Close the innermost nested scope, rolling back what it created."""
        conn = self.conn
        if not self._scopes or conn is None:
            return  # the connection was let go since: its scopes went with it
        name, was_clean, had_savepoint, self.release_locks = self._scopes.pop()
        conn.run_internal(f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}".encode() + self.release_locks)
        self._savepoint_here = had_savepoint
        self.clean_at = conn.query_count if was_clean else None

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
