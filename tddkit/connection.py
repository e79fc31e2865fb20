"""The connection class tddkit's pool hands out: it guards test isolation and counts SQL statements.

``GuardedConnection`` refuses to end the transaction that isolates a test
(``commit()``, autocommit changes, a raw ``COMMIT``) while a test holds it,
and its cursors count the statements they run with their time. Counting
costs two ``perf_counter()`` calls per statement; while a test runs, each
statement also goes to the test's ``StatementLog`` (statistics by shape, see
``tddkit.queries``); the SQL text is kept only while a ``capture_queries()``
block is open.

*Joined* mode is how application code runs inside the test's transaction
(``self.pool``, SQLAlchemy, ``commit_as_savepoint``): ``commit()`` keeps the
work done so far within the test (it releases the unit of work's savepoint
and sets a new one), ``rollback()`` goes back to the last commit, and
everything is still undone after the test.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import psycopg
from psycopg import pq
from psycopg.generators import execute
from psycopg.rows import tuple_row

from .client_state import ClientState
from .errors import IsolationError
from .queries import StatementLog
from .statements import PREPARED, RESERVED, screen

ISOLATION_HINT = (
    "tddkit runs every test inside a transaction and rolls it back afterwards; ending it would "
    "make the test's data permanent and visible to other tests. Use 'with self.conn.transaction():' "
    "for a nested block (a savepoint). For code under test that commits, hand it self.pool (a "
    "ConnectionPool stand-in whose commits are kept within the test), or set commit_as_savepoint = True "
    "on the class (or in [tool.tddkit]) so that self.conn.commit() and rollback() do the same."
)


JOINED_AUTOCOMMIT = (
    "application code turned autocommit on for a connection from tddkit (self.pool, SQLAlchemy or "
    "commit_as_savepoint): it is the test's own connection, inside the test's transaction, so it cannot "
    "commit on its own. Let the code use the connection as psycopg gives it (autocommit off) and call "
    "commit(), which tddkit keeps within the test; or give it a connection of its own from self.dsn (what it "
    "commits is then reported by the leak check)"
)
JOINED_RAW_END = (
    "{sql!r} run as SQL by application code on a connection from tddkit (self.pool, SQLAlchemy or "
    "commit_as_savepoint) would end the test's transaction: call conn.commit() / conn.rollback() instead "
    "(tddkit turns them into savepoints)"
)


_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


class _Join:
    """One unit of work of application code on the test's connection (one pool lease, or the test itself)."""

    __slots__ = ("base", "point", "owns_base", "committed")

    def __init__(self, base: str, point: str, owns_base: bool) -> None:
        self.base = base  # savepoint to go back to before the first commit
        self.point = point  # savepoint set by each commit
        self.owns_base = owns_base  # base was set for this unit (released when it ends)
        self.committed = False

    def rollback_sql(self) -> str:
        return f"ROLLBACK TO SAVEPOINT {self.point if self.committed or self.owns_base else self.base}"


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

    _conn: "GuardedConnection"

    def execute(self, query, params=None, **kwargs):
        conn = self._conn
        if conn.guarded:
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
            self._conn.note_statement(query, time.perf_counter() - start)

    def copy(self, statement, params=None, **kwargs):
        self._conn.note_statement(statement, 0.0)
        return super().copy(statement, params, **kwargs)

    def stream(self, query, params=None, **kwargs):
        self._conn.note_statement(query, 0.0)
        return super().stream(query, params, **kwargs)


class GuardedConnection(psycopg.Connection):
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
        #: Names of statements a test PREPAREd: they survive a rollback, so they are deallocated after it.
        self.prepared: Set[str] = set()
        #: Units of work of application code in joined mode, innermost last.
        self.joins: List[_Join] = []
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
                raise psycopg.errors.error_from_result(result, encoding=self.pgconn._encoding)
        return results[-1]

    def screened(self, kind: str, detail: str) -> None:
        """Act on a test's statement that ``statements.screen`` picked out: refuse it, or note a PREPARE."""
        if kind == PREPARED:
            self.prepared.add(detail)
            return
        if kind == RESERVED:
            raise IsolationError(f"{detail!r}: savepoints named tddkit_* are tddkit's own (the test's rollback "
                                 "goes back to one); give yours another name")
        if self.joins:
            raise IsolationError(JOINED_RAW_END.format(sql=detail))
        raise IsolationError(f"{detail!r} inside a test is not allowed: " + ISOLATION_HINT)

    def deallocate_sql(self) -> bytes:
        """``DEALLOCATE`` of the statements the test PREPAREd (b"" when none); forgets them."""
        names, self.prepared = self.prepared, set()
        return b"".join(b"; DEALLOCATE " + name.encode() for name in sorted(names))

    # --- joined mode -----------------------------------------------------------------------

    def join(self, *, base: Optional[str] = None) -> None:
        """Start a unit of work of application code: a new savepoint, or ``base`` (an existing one)."""
        point = f"tddkit_app_{len(self.joins) + 1}"
        if base is None:
            self.run_internal(f"SAVEPOINT {point}".encode())
        self.joins.append(_Join(base or point, point, owns_base=base is None))

    def leave(self, *, commit: bool = False) -> None:
        """End the innermost unit of work, keeping it within the test (``commit``) or rolling back what it
        did not commit (as psycopg_pool's putconn does)."""
        join = self.joins.pop()
        status = self.pgconn.transaction_status
        if self.lost or self.busy or status == pq.TransactionStatus.IDLE:
            return  # nothing to undo on this connection any more; the test reports its state
        if commit and status != pq.TransactionStatus.INERROR:
            if join.owns_base or join.committed:  # fold the unit's savepoint into the enclosing work
                self.run_internal(f"RELEASE SAVEPOINT {join.base if join.owns_base else join.point}".encode())
            return
        statement = join.rollback_sql()
        if join.owns_base:
            statement += f"; RELEASE SAVEPOINT {join.base}"
        self.run_internal(statement.encode())

    def _joined_commit(self) -> None:
        join = self.joins[-1]
        if self._num_transactions:
            raise psycopg.ProgrammingError(
                "Explicit commit() forbidden within a Transaction context. (Transaction will be automatically "
                "committed on successful exit from context.)")
        if self.pgconn.transaction_status == pq.TransactionStatus.INERROR:
            self._joined_rollback()  # PostgreSQL rolls back a failed transaction on COMMIT
            return
        release = f"RELEASE SAVEPOINT {join.point}; " if join.committed or join.owns_base else ""
        self.run_internal(f"{release}SAVEPOINT {join.point}".encode())
        join.committed = True

    def _joined_rollback(self) -> None:
        if self._num_transactions:
            raise psycopg.ProgrammingError(
                "Explicit rollback() forbidden within a Transaction context. (Either raise Rollback() or allow "
                "an exception to propagate out of the context.)")
        self.run_internal(self.joins[-1].rollback_sql().encode())

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
