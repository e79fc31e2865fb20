"""The isolation core: a class-scope transaction with shared data, and one rolled-back savepoint per test.

Per scope (a TestCase class, a pytest module): borrow one pooled connection, open a transaction, create the
shared data, set ``SAVEPOINT tddkit_test``. Per test: run it, then ``ROLLBACK TO SAVEPOINT tddkit_test`` and
release the session advisory locks it took (one round trip; the savepoint survives and serves the next test).
After the scope: roll back, release the session advisory locks its shared data kept, return the connection. A
connection a test left unusable (lost, or busy with an unfinished COPY) is let go, and the next test opens a new
one (the shared data is created again). TDDTestCase, the pytest plugin and the watch loop all use this module;
none of it knows about unittest.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import psycopg
from psycopg import pq

from ..errors import IsolationError, ServerError, TddkitError
from ..measure.meter import TestMeter, now
from ..measure.metrics import ClassMetrics, TestMetrics
from . import advisory_locks
from .connection import GuardedConnection, settled
from .leaks.watch import LeakWatch, after_rollback, leak_error, new_watch, with_probe
from .lending import Lender
from .prepared import ROLLBACK_TO, deallocation, run_after_test
from .scope import TestScope
from .temp_tables import schema_cache

SAVEPOINT = b"SAVEPOINT tddkit_test"
#: Moves the test savepoint after shared data made since it was set (the data is kept).
MOVE_SAVEPOINT = b"RELEASE SAVEPOINT tddkit_test; SAVEPOINT tddkit_test"
#: Ends the scope's transaction and frees the session-level advisory locks its shared data kept.
END_SCOPE = b"ROLLBACK; SELECT pg_advisory_unlock_all()"

LOST_NOTE = ("tddkit: the test's connection was lost while it ran; tddkit discarded it and the next test gets a "
             "new one (setUpTestData runs again)")
LEFT_BUSY = ("the test left a COPY or a streamed query unfinished on self.conn, so no statement could run on it any "
             "more; finish it (use 'with cursor.copy(...)', iterate a stream to its end) or close it. tddkit closed "
             "that connection; the next test gets a new one (setUpTestData runs again)")
ENDED_TRANSACTION = (
    "the test ended the transaction that isolates it (a COMMIT or ROLLBACK hidden in the SQL it ran?). tddkit "
    "cloned the test database again from the schema template, so what it committed is gone; the next test starts "
    "a new class transaction (setUpTestData runs again).")

SharedData = Callable[[GuardedConnection], None]


class ClassTransaction:
    """One scope's connection and transaction; ``shared_data(conn)`` runs once per connection it opens."""

    def __init__(self, lender: Lender, *, name: str, shared_data: SharedData | None = None,
                 commit_as_savepoint: bool | None = None, lent_between_tests: bool = False) -> None:
        self.lender = lender
        self.settings = lender.database.settings
        self.name = name
        self.shared_data = shared_data
        #: ``conn.commit()`` / ``rollback()`` of test code act as application code's (joined mode).
        self.commit_as_savepoint = self.settings.commit_as_savepoint if commit_as_savepoint is None \
            else commit_as_savepoint
        self.metrics = ClassMetrics(name)
        self.conn: GuardedConnection | None = None
        #: True while the shared data is created or a test runs: the connection may be lent to app code.
        self.in_use = False
        #: The leak check of the current transaction (see ``leaks``); None when it is off.
        self.leak_watch: LeakWatch | None = None
        #: Appended to the per-test rollback: frees the session advisory locks a test took (see ``advisory_locks``).
        self.release_locks = advisory_locks.RELEASE_ALL
        #: conn._tddkit.query_count when ``release_locks`` was decided: no statement since, no lock taken since.
        self._locks_at: int | None = None
        #: The connection stays lent (guarded) between tests: shared data is made whenever a fixture asks (pytest).
        self.lent_between_tests = lent_between_tests
        #: conn._tddkit.query_count when the newest ``tddkit_test`` savepoint matched the data: another count means
        #: statements ran between tests (shared data made lazily), so the savepoint moves before the next test.
        self.clean_at: int | None = None
        #: Whether the innermost scope has a ``tddkit_test`` savepoint yet.
        self._savepoint_here = False
        #: Shared data ran DDL or SET (``statements.SCHEMA``): the scope's rollback deallocates prepared statements.
        self._schema_changed = False
        #: The resident set size after the last test, the next test's "before" (None: other code may have run since).
        self._rss_after: int | None = None
        #: Nested scopes (a pytest class inside a module): (savepoint, state was clean, had a test savepoint,
        #: the release of advisory locks outside it).
        self._scopes: list[tuple[str, bool, bool, bytes]] = []

    def active_connection(self) -> GuardedConnection | None:
        """The connection, while shared data is created or a test runs; else None."""
        return self.conn if self.in_use else None

    # --- the scope ---------------------------------------------------------------------

    def connection(self) -> GuardedConnection:
        """The scope's connection, inside its transaction; a new one if the last was let go or lost."""
        conn = self.conn
        if conn is not None and settled(conn):  # the common case, told in a few steps
            return conn
        if conn is not None and (conn._tddkit.lost or conn._tddkit.busy):
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
                if not conn._tddkit.lost or attempt == attempts - 1:
                    raise
                gone = self.lender.probe.gone_reason()
                if gone:
                    raise ServerError(gone) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _begin(self, conn: GuardedConnection, started: float) -> None:
        self.conn = conn
        queries = conn._tddkit.query_count
        try:
            schema_cache.prepare(conn)
            self.metrics.connection_ms = (now() - started) * 1000
            self.leak_watch = new_watch(self.lender.database) if self.settings.leak_check else None
            if self.leak_watch is not None:
                self.leak_watch.begin(conn._tddkit.internal_cursor())  # psycopg sends BEGIN first
            if self.shared_data is not None:
                self._create_shared_data(conn, self.shared_data)
            self._locks_at = queries
            self._keep_schema_change(conn)
            self._set_savepoint(conn, SAVEPOINT, begin=True)
        except BaseException:
            self.release()
            raise
        self.clean_at, self._savepoint_here = conn._tddkit.query_count, True
        self.metrics.query_count = conn._tddkit.query_count - queries
        self.metrics.setup_ms = (now() - started) * 1000
        self.between_tests()

    def _set_savepoint(self, conn: GuardedConnection, statement: bytes, begin: bool = False) -> None:
        """Set or move the test savepoint; after statements ran (shared data), the advisory locks held now are
        the scope's (``begin``: the transaction may not be open yet)."""
        state = conn._tddkit
        if state.query_count == self._locks_at:
            if begin:
                state.internal_cursor().execute(statement, prepare=False)  # a cursor: psycopg sends BEGIN first
            else:
                state.run_internal(statement)
            return
        held = advisory_locks.held(state.run_internal(statement + advisory_locks.HELD))  # statements ran: in BEGIN
        self.release_locks = advisory_locks.release_after_test(held)
        self._locks_at = state.query_count

    def _keep_schema_change(self, conn: GuardedConnection) -> None:
        """DDL of shared data lasts until the scope ends: the statements prepared meanwhile stay until then."""
        if conn._tddkit.schema_changed:
            self._schema_changed, conn._tddkit.schema_changed = True, False

    def between_tests(self) -> None:
        """Lend the connection to fixtures again (pytest), guarded, once a test has ended."""
        if self.lent_between_tests and self.conn is not None:
            self.conn._tddkit.guard(True)
            self.in_use = True

    def _create_shared_data(self, conn: GuardedConnection, shared_data: SharedData) -> None:
        conn._tddkit.guard(True)
        self.in_use = True
        if self.commit_as_savepoint:
            conn._tddkit.join()
        try:
            shared_data(conn)
        finally:
            self.in_use = False
            if self.commit_as_savepoint and conn._tddkit.joins:
                conn._tddkit.leave(commit=True)
            conn._tddkit.joins.clear()
            conn._tddkit.guard(False)

    def release(self, close: bool = False) -> None:
        """End the transaction and return the connection (a lost or busy one, or any with ``close``, is
        discarded). Safe to call twice."""
        conn, self.conn = self.conn, None
        self.in_use = False
        self._scopes.clear()
        self.clean_at, self._savepoint_here, self._rss_after = None, False, None
        self.release_locks = advisory_locks.RELEASE_ALL
        schema_changed, self._schema_changed = self._schema_changed, False
        if conn is None:
            return
        state = conn._tddkit
        state.guard(False)
        state.joins.clear()
        state.drop_view()
        if state.busy or close:
            conn.close()  # nothing else can end a COPY or stream the test left behind
        try:
            if not conn.closed:
                state.run_internal(END_SCOPE + deallocation(state, schema_changed))
        except psycopg.Error:
            conn.close()  # its state is unknown: the pool replaces it
        finally:
            self.lender.putconn(conn)

    # --- tests -------------------------------------------------------------------------

    def begin_test(self, meter: TestMeter) -> TestScope:
        """Start a test: its connection ready and guarded, its meter and borrowed connections running."""
        conn = self.connection()
        state = conn._tddkit
        if not self._savepoint_here:
            self._set_savepoint(conn, SAVEPOINT)
            self._savepoint_here = True
        elif self.clean_at != state.query_count:
            self._keep_schema_change(conn)
            self._set_savepoint(conn, MOVE_SAVEPOINT)
        meter.metrics.class_metrics = self.metrics
        state.statement_log = meter.connected(state.query_count, state.query_time, self._rss_after,
                                              self.settings.repeated_query_threshold)
        self._rss_after = None
        scope = TestScope(conn, meter, self.lender.track_borrowed(), self.settings, self.lender.probe)
        state.guarded = True
        if self.commit_as_savepoint:
            state.join(base="tddkit_test")
        self.in_use = True
        return scope

    def end_test(self, scope: TestScope) -> TestMetrics:
        """Undo the test: take back what it borrowed, roll back to the savepoint; return its metrics, or raise
        what went wrong after it (a thread left running, a transaction ended, a write that escaped)."""
        state, meter = scope.conn._tddkit, scope.meter
        self.in_use = False
        state.guarded = False
        if state.joins:
            state.joins.clear()  # units of work app code left open: the rollback below undoes them
        state.statement_log = None
        meter.queries_done(state.query_count, state.query_time)
        try:
            scope.borrowed.reclaim()  # connections the test borrowed and kept
            error = scope.threads_error()  # a thread left running could write into the next test: fail the test,
            if error is not None:  # close the connection (the thread's next statement fails)
                state.cancel_running()  # the statement the thread waits on ends now, not when it is done
                self.release(close=True)
                raise error
            self._rollback_test(scope)
            self.clean_at = state.query_count
        finally:
            if self.lent_between_tests:
                self.between_tests()
            metrics = scope.finish_metrics()
        self._rss_after = metrics.rss_after
        return metrics

    def _rollback_test(self, scope: TestScope) -> None:
        """ROLLBACK TO the test's savepoint; a connection that cannot is let go (the next test reopens the scope)."""
        conn = scope.conn
        if not settled(conn):
            if conn._tddkit.busy:
                self.release()
                return scope.report(IsolationError(LEFT_BUSY))
            if conn._tddkit.lost:  # the test saw it break and reported (or expected) that
                return self.release()
            if conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
                self.release()
                self.lender.reset_database()
                raise IsolationError(ENDED_TRANSACTION)
        try:
            leaked = self._rollback_to_savepoint(conn, scope.while_rolling_back)
        except psycopg.Error as exc:
            self.release()
            if conn._tddkit.lost:  # broke after the test's last statement: the test did not see it
                exc.add_note(LOST_NOTE)
                return scope.report(exc)
            raise IsolationError(
                f"could not roll back to the test's savepoint ({exc}); did the test release it? "
                "The next test starts a new class transaction (setUpTestData runs again)."
            ) from None
        if leaked:
            self.release()
            self.lender.reset_database()
            raise leak_error(leaked)

    def _rollback_to_savepoint(self, conn: GuardedConnection, while_waiting: Callable[[], None]) -> str | None:
        """The per-test rollback (with the release of the advisory locks the test took; ``while_waiting`` runs while
        the server works on it); with the leak check, what other connections changed (else None)."""
        state, watch, locks = conn._tddkit, self.leak_watch, self.release_locks
        if state.prepared or state.schema_changed or locks != advisory_locks.RELEASE_ALL \
                or not self.settings.prepare_threshold:
            result = state.run_internal(with_probe(ROLLBACK_TO + locks + deallocation(state), watch), while_waiting)
        else:  # the common case: the statement after the rollback is the same for every test, prepared once
            result = run_after_test(state, partial(after_rollback, watch), while_waiting)
        return watch.changes(result.get_value(0, result.nfields - 1), conn) if watch else None

    # --- nested scopes -------------------------------------------------------------------

    def push_scope(self) -> None:
        """Open a nested scope (a pytest class in a module): what it creates is gone at ``pop_scope``."""
        state = self.connection()._tddkit
        name = f"tddkit_scope_{len(self._scopes) + 1}"
        state.run_internal(f"SAVEPOINT {name}".encode())
        self._scopes.append((name, self.clean_at == state.query_count, self._savepoint_here, self.release_locks))
        self.clean_at, self._savepoint_here = None, False

    def pop_scope(self) -> None:
        """Close the innermost nested scope, rolling back what it created."""
        conn = self.conn
        if not self._scopes or conn is None:
            return  # the connection was let go since: its scopes went with it
        name, was_clean, had_savepoint, self.release_locks = self._scopes.pop()
        state = conn._tddkit
        state.run_internal(f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}".encode() + self.release_locks
                           + deallocation(state, self._schema_changed))
        self._savepoint_here = had_savepoint
        self.clean_at = state.query_count if was_clean else None
