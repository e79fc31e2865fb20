"""The connection and cursor classes tddkit's pool hands out.

``GuardedConnection`` refuses to end the transaction that isolates a test
(``commit()``, autocommit changes, a raw ``COMMIT``) while a test holds it, and
counts the SQL statements its cursors run with their time. Counting costs two
``perf_counter()`` calls per statement; nothing is parsed or logged.
"""

from __future__ import annotations

import time
from typing import Any, List, Optional, Tuple

import psycopg
from psycopg import pq

from .errors import IsolationError

#: Statements that would end or escape the test's transaction.
_ENDING_KEYWORDS = ("COMMIT", "END", "ROLLBACK", "ABORT", "PREPARE TRANSACTION")

_ISOLATION_HINT = (
    "tddkit runs every test inside a transaction and rolls it back afterwards; ending it would "
    "make the test's data permanent and visible to other tests. Use 'with self.conn.transaction():' "
    "for a nested block (a savepoint), or test code that commits with a connection of its own."
)


def _ends_transaction(query: Any) -> bool:
    """True when a plain-text query starts with a statement ending the transaction."""
    if isinstance(query, bytes):
        query = query.decode(errors="replace")
    elif not isinstance(query, str):
        return False  # sql.Composed and templates: build them with psycopg.sql, not raw COMMIT
    head = query.lstrip(" \t\r\n;(").upper()
    for keyword in _ENDING_KEYWORDS:
        if head.startswith(keyword):
            rest = head[len(keyword):len(keyword) + 1]
            if rest and (rest.isalnum() or rest == "_"):
                continue
            if keyword in ("ROLLBACK", "ABORT") and " TO " in f" {head[:40]} ".replace("\n", " "):
                return False  # ROLLBACK TO SAVEPOINT stays inside the transaction
            if keyword == "COMMIT" and head.startswith("COMMIT PREPARED"):
                return False  # ends some other (prepared) transaction, not this one
            return True
    return False


class QueryLog:
    """Statements captured while ``assertNumQueries`` (or similar) is active."""

    def __init__(self) -> None:
        self.statements: List[Tuple[str, float]] = []


class CountingCursor(psycopg.Cursor):
    """A cursor that counts and times the statements it runs on a GuardedConnection."""

    def execute(self, query, params=None, **kwargs):  # type: ignore[override]
        conn = self._conn
        if conn._tddkit_guarded and _ends_transaction(query):
            raise IsolationError(f"{str(query).strip()[:40]!r} inside a test is not allowed: " + _ISOLATION_HINT)
        start = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            conn._tddkit_note(query, time.perf_counter() - start)

    def executemany(self, query, params_seq, **kwargs):  # type: ignore[override]
        start = time.perf_counter()
        try:
            return super().executemany(query, params_seq, **kwargs)
        finally:
            self._conn._tddkit_note(query, time.perf_counter() - start)

    def copy(self, statement, params=None, **kwargs):  # type: ignore[override]
        self._conn._tddkit_note(statement, 0.0)
        return super().copy(statement, params, **kwargs)

    def stream(self, query, params=None, **kwargs):  # type: ignore[override]
        self._conn._tddkit_note(query, 0.0)
        return super().stream(query, params, **kwargs)


class GuardedConnection(psycopg.Connection):
    """A psycopg Connection that protects test isolation and counts statements."""

    _tddkit_guarded = False
    query_count = 0
    query_time = 0.0
    _tddkit_log: Optional[QueryLog] = None

    def _tddkit_note(self, query: Any, elapsed: float) -> None:
        self.query_count += 1
        self.query_time += elapsed
        if self._tddkit_log is not None:
            text = query.as_string(self) if hasattr(query, "as_string") else str(query)
            self._tddkit_log.statements.append((text, elapsed))

    def guard(self, active: bool) -> None:
        """Turn isolation protection on (inside a test) or off (framework code)."""
        self._tddkit_guarded = active

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

    def commit(self) -> None:
        if self._tddkit_guarded:
            raise IsolationError("conn.commit() inside a test is not allowed: " + _ISOLATION_HINT)
        super().commit()

    def rollback(self) -> None:
        if self._tddkit_guarded:
            raise IsolationError(
                "conn.rollback() inside a test is not allowed (it would also undo setUpTestData): "
                + _ISOLATION_HINT
            )
        super().rollback()

    def set_autocommit(self, value: bool) -> None:
        if self._tddkit_guarded:
            raise IsolationError("changing autocommit inside a test is not allowed: " + _ISOLATION_HINT)
        super().set_autocommit(value)

    def tpc_begin(self, xid) -> None:  # type: ignore[override]
        if self._tddkit_guarded:
            raise IsolationError("two-phase commit inside a test is not allowed: " + _ISOLATION_HINT)
        super().tpc_begin(xid)
