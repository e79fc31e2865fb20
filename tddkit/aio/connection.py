"""The async view of the test's connection: a psycopg AsyncConnection on the same libpq connection.

An async test runs on the very connection the sync isolation core holds in
the class transaction: ``view_of(conn)`` makes a ``psycopg.AsyncConnection``
over its libpq connection, sharing its ``ConnectionState``, so the class
transaction, the per-test savepoint and rollback, the leak check, statement
counting, N+1 detection and joined mode are the sync ones (one mechanism).
tddkit's own statements between tests run on the sync connection, when no
async code runs; joined-mode statements from async code run on the view
under its lock. The view prepares no statements server-side (the sync
connection's prepared statements share the session's names).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from .._compat import async_view_of, cursor_connection_slot
from ..errors import IsolationError
from ..isolation.connection import ISOLATION_HINT, ConnectionState, GuardedConnection
from ..isolation.joined_mode import JOINED_AUTOCOMMIT
from ..isolation.statements import screen
from ..measure.queries import QueryCapture


class AsyncCountingCursor(psycopg.AsyncCursor[Any]):
    """An async cursor that counts, times and screens statements as the sync CountingCursor does."""

    _tddkit_conn: AsyncGuardedConnection = cursor_connection_slot()

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        conn = self._tddkit_conn
        state = conn._tddkit
        seen = None
        if state.guarded:
            if not isinstance(query, (str, bytes)) and hasattr(query, "as_string"):
                query = query.as_string(conn)
            seen = screen(query)
            if seen is not None and not state.screened(*seen):
                seen = None
        start = time.perf_counter()
        try:
            result = await super().execute(query, params, **kwargs)
        finally:
            state.note_statement(query, time.perf_counter() - start, conn)
        if seen is not None:
            state.app_savepoint(*seen)  # it succeeded: follow application code's savepoints
        return result

    async def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        conn = self._tddkit_conn
        start = time.perf_counter()
        try:
            return await super().executemany(query, params_seq, **kwargs)
        finally:
            conn._tddkit.note_statement(query, time.perf_counter() - start, conn)

    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        self._tddkit_conn._tddkit.note_statement(statement, 0.0, self._tddkit_conn)
        return super().copy(statement, params, **kwargs)

    def stream(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self._tddkit_conn._tddkit.note_statement(query, 0.0, self._tddkit_conn)
        return super().stream(query, params, **kwargs)


class AsyncGuardedConnection(psycopg.AsyncConnection[Any]):
    """The test's connection for async code: guarded and counted like the sync GuardedConnection."""

    _tddkit: ConnectionState

    @contextlib.contextmanager
    def capture_queries(self) -> Iterator[QueryCapture]:
        """Keep the text and time of every statement run in the block (blocks may nest)."""
        with self._tddkit.conn.capture_queries() as capture:
            yield capture

    async def commit(self) -> None:
        state = self._tddkit
        unit = state.app_unit()
        if unit is not None:
            return await state.ajoined_commit(unit, self)
        if state.guarded:
            raise IsolationError("await conn.commit() inside a test is not allowed: " + ISOLATION_HINT)
        await super().commit()

    async def rollback(self) -> None:
        state = self._tddkit
        unit = state.app_unit()
        if unit is not None:
            return await state.ajoined_rollback(unit, self)
        if state.guarded:
            raise IsolationError("await conn.rollback() inside a test is not allowed (it would also undo "
                                 "asyncSetUpTestData): " + ISOLATION_HINT)
        await super().rollback()

    async def set_autocommit(self, value: bool) -> None:
        if value == self.autocommit:
            return
        if self._tddkit.joins:
            raise IsolationError(JOINED_AUTOCOMMIT)
        if self._tddkit.guarded:
            raise IsolationError("changing autocommit inside a test is not allowed: " + ISOLATION_HINT)
        await super().set_autocommit(value)

    async def close(self) -> None:
        state = self._tddkit
        unit = state.app_unit()
        if unit is not None and not state.lost:  # application code is done with it: the test's one stays open
            await state.ajoined_rollback(unit, self)
            return
        await super().close()

    async def tpc_begin(self, xid: psycopg.Xid | str) -> None:
        if self._tddkit.guarded:
            raise IsolationError("two-phase commit inside a test is not allowed: " + ISOLATION_HINT)
        await super().tpc_begin(xid)


def view_of(conn: GuardedConnection) -> AsyncGuardedConnection:
    """The async view of the test's connection (made once per connection)."""
    state = conn._tddkit
    view: AsyncGuardedConnection | None = state.view
    if view is None:
        view = async_view_of(conn, AsyncGuardedConnection)
        view._tddkit = state
        view.cursor_factory = AsyncCountingCursor
        view.prepare_threshold = None
        state.view = view
    return view
