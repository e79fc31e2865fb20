"""The connection class tddkit's pool hands out: it guards test isolation and counts SQL statements.

``GuardedConnection`` refuses to end the transaction that isolates a test
(``commit()``, autocommit changes, a raw ``COMMIT``) while a test holds it,
and its cursors count the statements they run with their time. Counting
costs two ``perf_counter()`` calls per statement; while a test runs, each
statement also goes to the test's ``StatementLog`` (statistics by shape, see
``tddkit.measure.queries``); the SQL text is kept only while a ``capture_queries()``
block is open.

Its *joined* mode (``joined_mode``) is how application code runs inside the
test's transaction.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import psycopg
from psycopg import pq
from psycopg.rows import tuple_row

from .._compat import cursor_connection_slot, query_results_generator
from ..errors import IsolationError
from ..measure.queries import StatementLog
from .client_state import ClientState
from .joined_mode import JOINED_AUTOCOMMIT, JOINED_RAW_END, JoinedMode, Unit
from .statements import PREPARED, RESERVED, screen

ISOLATION_HINT = (
    "tddkit runs every test inside a transaction and rolls it back afterwards; ending it would "
    "make the test's data permanent and visible to other tests. Use 'with self.conn.transaction():' "
    "for a nested block (a savepoint). For code under test that commits, hand it self.pool (a "
    "ConnectionPool stand-in whose commits are kept within the test), or set commit_as_savepoint = True "
    "on the class (or in [tool.tddkit]) so that self.conn.commit() and rollback() do the same."
)


_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
#: psycopg's generator of the results of a sent query (see ``tddkit._compat``).
execute = query_results_generator()
#: Deallocates every statement SQL ``PREPARE`` made on the connection (psycopg's own are not made by SQL).
DEALLOCATE_SQL_PREPARED = (b"; DO $$DECLARE n text; BEGIN FOR n IN SELECT name FROM pg_prepared_statements WHERE "
                           b"from_sql LOOP EXECUTE format('DEALLOCATE %I', n); END LOOP; END $$")


class QueryCapture:
    """The statements run on a connection while a ``capture_queries()`` block was open."""

    def __init__(self) -> None:
        #: (SQL text, seconds) of each statement, in order.
        self.statements: List[Tuple[str, float]] = []

    def __len__(self) -> int:
        return len(self.statements)

    def listing(self, limit: int = 200) -> str:
        """The statements as numbered lines (each cut to ``limit`` characters), or ``(none)``."""
        lines = [f"  {i}. {text.strip()[:limit]}" for i, (text, _) in enumerate(self.statements, 1)]
        return "\n".join(lines) or "  (none)"


class CountingCursor(psycopg.Cursor):
    """A cursor that counts and times the statements it runs on a GuardedConnection."""

    #: The cursor's connection, read where psycopg keeps it (see ``tddkit._compat``).
    _tddkit_conn: "GuardedConnection" = cursor_connection_slot()

    def execute(self, query, params=None, **kwargs):
        conn = self._tddkit_conn
        if conn.guarded:
            if not isinstance(query, (str, bytes)) and hasattr(query, "as_string"):
                query = query.as_string(conn)  # a psycopg.sql object: composed once, screened and run as this text
            seen = screen(query)
            if seen is not None:
                conn.screened(*seen)
        start = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            conn.note_statement(query, time.perf_counter() - start)

    def executemany(self, query, params_seq, **kwargs):
        start = time.perf_counter()
        try:
            return super().executemany(query, params_seq, **kwargs)
        finally:
            self._tddkit_conn.note_statement(query, time.perf_counter() - start)

    def copy(self, statement, params=None, **kwargs):
        self._tddkit_conn.note_statement(statement, 0.0)
        return super().copy(statement, params, **kwargs)

    def stream(self, query, params=None, **kwargs):
        self._tddkit_conn.note_statement(query, 0.0)
        return super().stream(query, params, **kwargs)


class GuardedConnection(JoinedMode, psycopg.Connection):
    """A psycopg Connection that protects test isolation and counts statements."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Statements run through this connection's cursors, and their total seconds.
        self.query_count = 0
        self.query_time = 0.0
        #: True while a test holds the connection: statements ending its transaction are refused.
        self.guarded = False
        #: Temp tables the SchemaCache keeps on this connection (name -> its record).
        self.temp_tables: Optional[Dict[str, Any]] = None
        #: The Python-side state when the pool first lent it, restored each time it comes back.
        self.client_state: Optional[ClientState] = None
        #: A test ran a SQL PREPARE: its statements survive a rollback, so they are deallocated after it.
        self.prepared = False
        #: Units of work of application code in joined mode, innermost last.
        self.joins: List[Unit] = []
        #: The running test's statement statistics (set by the isolation core while a test runs).
        self.statement_log: Optional[StatementLog] = None
        self._captures: List[QueryCapture] = []

    def note_statement(self, query: Any, elapsed: float) -> None:
        """Count one statement (called by the cursors)."""
        self.query_count += 1
        self.query_time += elapsed
        log = self.statement_log
        if log is not None:
            log.note(query, elapsed, self)
        if self._captures:
            text = query.as_string(self) if hasattr(query, "as_string") else str(query)
            for capture in self._captures:
                capture.statements.append((text, elapsed))

    @contextlib.contextmanager
    def capture_queries(self) -> Iterator[QueryCapture]:
        """Keep the text and time of every statement run in the block (blocks may nest)."""
        capture = QueryCapture()
        self._captures.append(capture)
        try:
            yield capture
        finally:
            self._captures.remove(capture)

    def guard(self, active: bool) -> None:
        """Turn isolation protection on (inside a test) or off (framework code)."""
        self.guarded = active

    def internal_cursor(self) -> "psycopg.Cursor[Tuple[Any, ...]]":
        """A cursor for framework statements: not counted, not guarded, tuples whatever the test set."""
        return psycopg.Cursor(self, row_factory=tuple_row)

    def run_internal(self, statement: bytes) -> "pq.abc.PGresult":
        """Run a framework statement (or several; the last one's result is returned): not counted, not
        guarded, never prepared, sent as psycopg's cursors send it but with no cursor to build."""
        with self.lock:
            self.pgconn.send_query(statement)
            results = self.wait(execute(self.pgconn))
        for result in results:
            if result.status not in _OK:
                raise psycopg.errors.error_from_result(result, encoding=self.info.encoding)
        return results[-1]

    def screened(self, kind: str, detail: str) -> None:
        """Act on a test's statement that ``statements.screen`` picked out: refuse it, or note a PREPARE."""
        if kind == PREPARED:
            self.prepared = True
            return
        if kind == RESERVED:
            raise IsolationError(f"{detail!r}: savepoints named tddkit_* are tddkit's own (the test's rollback "
                                 "goes back to one); give yours another name")
        if self.joins:
            raise IsolationError(JOINED_RAW_END.format(sql=detail))
        raise IsolationError(f"{detail!r} inside a test is not allowed: " + ISOLATION_HINT)

    def deallocate_sql(self) -> bytes:
        """Deallocates the statements made by SQL ``PREPARE`` once a test ran one (b"" when none did), whatever
        became of it (a PREPARE that failed made none); forgets them."""
        if not self.prepared:
            return b""
        self.prepared = False
        return DEALLOCATE_SQL_PREPARED

    # --- state -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while a COPY or a streamed query left unfinished occupies the connection.

        Until it ends no other statement can run; executing one from the thread
        holding the connection's lock would wait forever.
        """
        return self.lock.locked() or self.pgconn.transaction_status == pq.TransactionStatus.ACTIVE

    @property
    def lost(self) -> bool:
        """True when the connection is closed or broken (backend terminated, server gone)."""
        return self.closed or self.broken

    def cancel_running(self) -> None:
        """Ask the server to cancel the statement running on this connection, if one is (a test timed out)."""
        if not self.lost and self.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            getattr(self, "cancel_safe", self.cancel)()

    def commit(self) -> None:
        if self.joins:
            return self._joined_commit()
        if self.guarded:
            raise IsolationError("conn.commit() inside a test is not allowed: " + ISOLATION_HINT)
        super().commit()

    def rollback(self) -> None:
        if self.joins:
            return self._joined_rollback()
        if self.guarded:
            raise IsolationError(
                "conn.rollback() inside a test is not allowed (it would also undo setUpTestData): " + ISOLATION_HINT
            )
        super().rollback()

    def set_autocommit(self, value: bool) -> None:
        if value == self.autocommit:
            return
        if self.joins:
            raise IsolationError(JOINED_AUTOCOMMIT)
        if self.guarded:
            raise IsolationError("changing autocommit inside a test is not allowed: " + ISOLATION_HINT)
        super().set_autocommit(value)

    def close(self) -> None:
        if self.joins and not self.lost:  # application code is done with it: the test's connection stays open
            self._joined_rollback()
            return
        super().close()

    def tpc_begin(self, xid) -> None:
        if self.guarded:
            raise IsolationError("two-phase commit inside a test is not allowed: " + ISOLATION_HINT)
        super().tpc_begin(xid)
