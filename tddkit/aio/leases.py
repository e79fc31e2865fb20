"""AsyncLease: the test's connection as an async DBAPI connection of its own, one per SQLAlchemy AsyncConnection.

The async twin of ``tddkit.isolation.leases.Lease`` on the same units of work:
SQLAlchemy's asyncio engine (dialect ``postgresql+psycopg``) gets an AsyncLease
of the test's AsyncConnection (the async view) for each connection it opens.
Its savepoint is set before its first statement, its ``commit()`` keeps its
work within the test, its ``rollback()`` undoes only its own work, ``close()``
ends its unit without touching another's.
"""

from __future__ import annotations

from typing import Any

from ..errors import TddkitError
from ..isolation.leases import LeaseBase
from .connection import AsyncCountingCursor, AsyncGuardedConnection


class AsyncLeaseCursor(AsyncCountingCursor):
    """A cursor of an AsyncLease: its lease's savepoint is set before its first statement."""

    _tddkit_lease: AsyncLease

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        await self._tddkit_lease._ready()
        return await super().execute(query, params, **kwargs)

    async def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        await self._tddkit_lease._ready()
        return await super().executemany(query, params_seq, **kwargs)


class AsyncLease(LeaseBase):
    """An async DBAPI connection for SQLAlchemy: the test's AsyncConnection, in a unit of work of its own."""

    __slots__ = ()
    _leased: AsyncGuardedConnection

    async def _ready(self) -> None:
        await self._check().aopen_unit(self._unit)

    def cursor(self, *args: Any, **kwargs: Any) -> AsyncLeaseCursor:
        if args or kwargs:
            raise TddkitError("server-side cursors are not available on tddkit's SQLAlchemy connections")
        cursor = AsyncLeaseCursor(self._leased)
        cursor._tddkit_lease = self
        return cursor

    async def commit(self) -> None:
        await self._leased._tddkit.acommit_unit(self._unit)

    async def rollback(self) -> None:
        await self._leased._tddkit.arollback_unit(self._unit)

    async def close(self) -> None:
        if self._closing():
            await self._leased._tddkit.aend_unit(self._unit)
