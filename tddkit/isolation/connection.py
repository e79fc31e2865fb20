"""The connection class tddkit's pool hands out: it guards test isolation and counts SQL statements.

``GuardedConnection`` refuses to end the transaction that isolates a test
(``commit()``, autocommit changes, a raw ``COMMIT``) while a test holds it;
its cursors count and time statements (two ``perf_counter()`` calls each) and
hand them to the test's ``StatementLog`` (``tddkit.measure.queries``); SQL
text is kept only inside ``capture_queries()``, its one public addition.
tddkit's state of it is one private object, ``conn._tddkit`` (a
``ConnectionState``), so no name of tddkit's can clash with psycopg's. Its
*joined* mode (``joined_mode``) runs application code inside the test.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
from psycopg import pq
from psycopg.rows import tuple_row

from .._compat import cursor_connection_slot, query_results_generator, reclaim_handlers
from ..errors import IsolationError
from ..measure.queries import QueryCapture, StatementLog
from .client_state import ClientState
from .joined_mode import JOINED_AUTOCOMMIT, JOINED_RAW_END, JoinedMode, Unit
from .prepared import schema_changed
from .statements import PREPARED, RESERVED, SAVEPOINT_KINDS, SCHEMA, screen

ISOLATION_HINT = (
    "tddkit runs every test inside a transaction and rolls it back afterwards; ending it would "
    "make the test's data permanent and visible to other tests. Use 'with self.conn.transaction():' "
    "for a nested block (a savepoint). For code under test that commits, hand it self.pool (a "
    "ConnectionPool stand-in whose commits are kept within the test), or set commit_as_savepoint = True "
    "on the class (or in [tool.tddkit]) so that self.conn.commit() and rollback() do the same."
)


_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_IN_TRANSACTION = (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)
_clock = time.perf_counter
#: psycopg's generator of the results of a sent query (see ``tddkit._compat``).
execute = query_results_generator()
_cursor_execute = psycopg.Cursor.execute


class CountingCursor(psycopg.Cursor):
    """A cursor that counts and times the statements it runs on a GuardedConnection."""

    #: The cursor's connection, read where psycopg keeps it (see ``tddkit._compat``).
    _tddkit_conn: GuardedConnection = cursor_connection_slot()

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        conn = self._tddkit_conn
        state = conn._tddkit
        if state.guarded:
            if not isinstance(query, (str, bytes)) and hasattr(query, "as_string"):
                query = query.as_string(conn)  # a psycopg.sql object: composed once, screened and run as this text
            seen = screen(query)
            if seen is not None and state.screened(*seen):
                return self._savepoint_statement(seen, query, params, **kwargs)
        start = _clock()
        try:
            return _cursor_execute(self, query, params, **kwargs)  # psycopg's (super() costs a lookup per call)
        finally:
            state.note_statement(query, _clock() - start, conn)

    def _savepoint_statement(self, seen: tuple[str, str], query: Any, params: Any = None, **kwargs: Any) -> Any:
        """Run a savepoint statement of application code's in joined mode, and follow it once it succeeded."""
        conn = self._tddkit_conn
        start = time.perf_counter()
        try:
            result = super().execute(query, params, **kwargs)
        finally:
            conn._tddkit.note_statement(query, time.perf_counter() - start, conn)
        conn._tddkit.app_savepoint(*seen)
        return result

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        conn = self._tddkit_conn
        start = time.perf_counter()
        try:
            return super().executemany(query, params_seq, **kwargs)
        finally:
            conn._tddkit.note_statement(query, time.perf_counter() - start, conn)

    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        conn = self._tddkit_conn
        conn._tddkit.note_statement(statement, 0.0, conn)
        return super().copy(statement, params, **kwargs)

    def stream(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        conn = self._tddkit_conn
        conn._tddkit.note_statement(query, 0.0, conn)
        return super().stream(query, params, **kwargs)


class ConnectionState(JoinedMode):
    """tddkit's state and machinery of one GuardedConnection, kept as its ``_tddkit``."""

    __slots__ = ("_owner", "query_count", "query_time", "guarded", "temp_tables", "client_state", "prepared",
                 "schema_changed", "after_test", "joins", "statement_log", "captures", "view", "view_held")

    def __init__(self, conn: GuardedConnection) -> None:
        self._owner = weakref.ref(conn)  # the connection holds its state: no reference cycle
        #: Statements run through the connection's cursors, and their total seconds.
        self.query_count = 0
        self.query_time = 0.0
        #: True while a test holds the connection: statements ending its transaction are refused.
        self.guarded = False
        #: Temp tables the SchemaCache keeps on the connection (name -> its record).
        self.temp_tables: dict[str, Any] | None = None
        #: The Python-side state when the pool first lent it, restored each time it comes back.
        self.client_state: ClientState | None = None
        #: A test ran a SQL PREPARE, or a statement that may change the schema: prepared statements are deallocated
        #: after it (see ``prepared``).
        self.prepared = self.schema_changed = False
        #: What runs the after-test statement prepared on the connection (``ROLLBACK TO ...; EXECUTE name``; see
        #: ``prepared``), once it is.
        self.after_test: bytes | None = None
        #: Units of work of application code in joined mode, innermost last.
        self.joins: list[Unit] = []
        #: The running test's statement statistics (set by the isolation core while a test runs).
        self.statement_log: StatementLog | None = None
        #: The open ``capture_queries()`` blocks.
        self.captures: list[QueryCapture] = []
        #: The async view of this connection an async test uses (``tddkit.aio``), and whether async code of
        #: tddkit's holds its lock.
        self.view: Any = None
        self.view_held = False

    @property
    def conn(self) -> GuardedConnection:
        """The connection this is the state of."""
        conn = self._owner()
        if conn is None:
            raise ReferenceError("the connection of this tddkit state is gone")
        return conn

    def note_statement(self, query: Any, elapsed: float, conn: Any) -> None:
        """Count one statement run on ``conn`` (called by the cursors, sync and async)."""
        self.query_count += 1
        self.query_time += elapsed
        log = self.statement_log
        if log is not None:
            log.note(query, elapsed, conn)
        if self.captures:
            text = query.as_string(conn) if hasattr(query, "as_string") else str(query)
            for capture in self.captures:
                capture.statements.append((text, elapsed))

    @contextlib.contextmanager
    def uncounted(self) -> Iterator[None]:
        """Statements in the block are tddkit's own: not counted, logged or captured."""
        saved = self.query_count, self.query_time, self.statement_log, self.captures
        self.statement_log, self.captures = None, []
        try:
            yield
        finally:
            self.query_count, self.query_time, self.statement_log, self.captures = saved

    def drop_view(self) -> None:
        """Forget the async view (the connection goes back to the pool): notices go to the connection again."""
        if self.view is not None:
            self.view = None
            reclaim_handlers(self.conn)

    @contextlib.asynccontextmanager
    async def view_lock(self) -> AsyncIterator[None]:
        """Hold the async view's lock (other tasks' statements wait; ``busy`` ignores this holder)."""
        async with self.view.lock:
            self.view_held = True
            try:
                yield
            finally:
                self.view_held = False

    def guard(self, active: bool) -> None:
        """Turn isolation protection on (inside a test) or off (framework code)."""
        self.guarded = active

    def internal_cursor(self) -> psycopg.Cursor[tuple[Any, ...]]:
        """A cursor for framework statements: not counted, not guarded, tuples whatever the test set."""
        return psycopg.Cursor(self.conn, row_factory=tuple_row)

    def run_internal(self, statement: bytes, while_waiting: Callable[[], None] | None = None) -> pq.abc.PGresult:
        """Run a framework statement (or several; the last one's result is returned): not counted, not
        guarded, never prepared, sent as psycopg's cursors send it but with no cursor to build. ``while_waiting``
        runs once the statement is sent, while the server works on it (it must not use the connection)."""
        conn = self.conn
        with conn.lock:
            conn.pgconn.send_query(statement)
            try:
                if while_waiting is not None:
                    while_waiting()
            finally:
                results = conn.wait(execute(conn.pgconn))
        for result in results:
            if result.status not in _OK:
                raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
        return results[-1]

    def screened(self, kind: str, detail: str) -> bool:
        """Act on a test's statement that ``statements.screen`` picked out: refuse it, or note a PREPARE; True
        for a savepoint statement that joined mode follows once it succeeds."""
        if kind in SAVEPOINT_KINDS:
            return bool(self.joins)
        if kind == SCHEMA:
            schema_changed(self)
            return False
        if kind == PREPARED:
            self.prepared = True
            return False
        if kind == RESERVED:
            raise IsolationError(f"{detail!r}: savepoints named tddkit_* are tddkit's own (the test's rollback "
                                 "goes back to one); give yours another name")
        if self.joins:
            raise IsolationError(JOINED_RAW_END.format(sql=detail))
        raise IsolationError(f"{detail!r} inside a test is not allowed: " + ISOLATION_HINT)

    # --- state -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a COPY or a streamed query left unfinished occupies the connection.

        Until it ends no other statement can run; executing one from the thread
        holding the connection's lock would wait forever.
        """
        conn, view = self.conn, self.view
        return conn.lock.locked() or conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE or \
            (view is not None and view.lock.locked() and not self.view_held)

    @property
    def lost(self) -> bool:
        """True when the connection is closed or broken (backend terminated, server gone)."""
        conn = self.conn
        return conn.closed or conn.broken

    def cancel_running(self) -> None:
        """Ask the server to cancel the statement running on the connection, if one is (a test timed out)."""
        conn = self.conn
        if not self.lost and conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            getattr(conn, "cancel_safe", conn.cancel)()


def settled(conn: GuardedConnection) -> bool:
    """Whether a connection is open and idle in its transaction, nothing else holding it: the common case, told in a
    few steps (otherwise it may be lost, busy or out of its transaction)."""
    return (conn.pgconn.transaction_status in _IN_TRANSACTION and conn._tddkit.view is None
            and not conn.lock.locked())


class GuardedConnection(psycopg.Connection):
    """A psycopg Connection that protects test isolation and counts statements."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: tddkit's state of this connection (one private name: none of tddkit's can clash with psycopg's).
        self._tddkit = ConnectionState(self)

    @contextlib.contextmanager
    def capture_queries(self) -> Iterator[QueryCapture]:
        """Keep the text and time of every statement run in the block (blocks may nest)."""
        capture = QueryCapture()
        captures = self._tddkit.captures
        captures.append(capture)
        try:
            yield capture
        finally:
            captures.remove(capture)

    def commit(self) -> None:
        unit = self._tddkit.app_unit()
        if unit is not None:
            return self._tddkit.joined_commit(unit, self)
        if self._tddkit.guarded:
            raise IsolationError("conn.commit() inside a test is not allowed: " + ISOLATION_HINT)
        super().commit()

    def rollback(self) -> None:
        unit = self._tddkit.app_unit()
        if unit is not None:
            return self._tddkit.joined_rollback(unit, self)
        if self._tddkit.guarded:
            raise IsolationError(
                "conn.rollback() inside a test is not allowed (it would also undo setUpTestData): " + ISOLATION_HINT
            )
        super().rollback()

    def set_autocommit(self, value: bool) -> None:
        if value == self.autocommit:
            return
        if self._tddkit.joins:
            raise IsolationError(JOINED_AUTOCOMMIT)
        if self._tddkit.guarded:
            raise IsolationError("changing autocommit inside a test is not allowed: " + ISOLATION_HINT)
        super().set_autocommit(value)

    def close(self) -> None:
        state = self._tddkit
        unit = state.app_unit()
        if unit is not None and not state.lost:  # application code is done with it: the test's one stays open
            state.joined_rollback(unit, self)
            return
        super().close()

    def tpc_begin(self, xid: psycopg.Xid | str) -> None:
        if self._tddkit.guarded:
            raise IsolationError("two-phase commit inside a test is not allowed: " + ISOLATION_HINT)
        super().tpc_begin(xid)
