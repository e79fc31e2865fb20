"""AsyncJoinedPool: a stand-in for psycopg_pool.AsyncConnectionPool whose connections are the test's own, joined.

The async twin of ``tddkit.isolation.joined.JoinedPool``, on the same units of
work: ``async with pool.connection() as conn`` runs inside a savepoint,
released at the end of the block (the app's commit) or rolled back to on an
exception; after ``await getconn()``, ``await conn.commit()`` keeps the work
within the test and ``await conn.rollback()`` undoes it; ``await putconn()``
rolls back what was not committed. ``conn`` is the test's AsyncConnection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ..isolation.joined import JoinedPool
from .connection import AsyncGuardedConnection, view_of


class AsyncJoinedPool(JoinedPool):
    """The methods of ``psycopg_pool.AsyncConnectionPool`` that application code uses, on the test's connection."""

    def _view(self) -> AsyncGuardedConnection:
        return view_of(self._connection())

    async def getconn(self, timeout: float | None = None) -> AsyncGuardedConnection:  # type: ignore[override]
        """The test's connection, starting a unit of work (a savepoint)."""
        view = self._view()
        await view._tddkit.ajoin()
        return view

    async def putconn(self, conn: AsyncGuardedConnection) -> None:  # type: ignore[override]
        """End the unit of work: what was not committed is rolled back."""
        await conn._tddkit.aend_unit(self._lent_unit(conn, conn._tddkit.view))

    @contextlib.asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[AsyncGuardedConnection]:  # type: ignore[override]
        """A unit of work: kept within the test when the block ends normally, rolled back on an exception."""
        view = self._view()
        state = view._tddkit
        unit = await state.ajoin()
        try:
            yield view
        except BaseException:
            await state.aend_unit(unit)
            raise
        await state.aend_unit(unit, commit=True)

    async def open(self, wait: bool = False, timeout: float = 30.0) -> None:  # type: ignore[override]
        """Nothing to open: the test's connection is already open."""

    async def close(self, timeout: float = 5.0) -> None:  # type: ignore[override]
        """Nothing to close: the test owns the connection (it is rolled back after the test)."""

    async def wait(self, timeout: float = 30.0) -> None:  # type: ignore[override]
        """Ready at once."""

    async def check(self) -> None:  # type: ignore[override]
        """Nothing to check: the test's connection is checked by tddkit."""

    async def resize(self, min_size: int, max_size: int | None = None) -> None:  # type: ignore[override]
        """Sizes are fixed: one connection, the test's."""

    async def drain(self) -> None:  # type: ignore[override]
        """Nothing to drain."""

    async def __aenter__(self) -> AsyncJoinedPool:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncJoinedPool {self.name!r} of {self._transaction.name}>"
