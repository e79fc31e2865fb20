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

from .._compat import notice_handlers
from ..errors import TddkitError
from ..isolation.joined_mode import Unit
from ..isolation.leases import STALE
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


class AsyncLease:
    """An async DBAPI connection for SQLAlchemy: the test's AsyncConnection, in a unit of work of its own."""

    __slots__ = ("_leased", "_unit", "_closed")
    _leased: AsyncGuardedConnection
    _unit: Unit
    _closed: bool

    def __init__(self, view: AsyncGuardedConnection) -> None:
        object.__setattr__(self, "_leased", view)
        object.__setattr__(self, "_unit", view._tddkit.join(lazy=True))
        object.__setattr__(self, "_closed", False)

    async def _ready(self) -> None:
        state = self._leased._tddkit
        if self._closed or self._unit not in state.joins:
            raise TddkitError(STALE if not self._closed else "this SQLAlchemy connection's lease is closed")
        await state.aopen_unit(self._unit)

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
        if not self._closed:
            object.__setattr__(self, "_closed", True)
            await self._leased._tddkit.aend_unit(self._unit)

    def add_notice_handler(self, callback: Any) -> None:
        """Add ``callback`` to the connection's notice handlers, once (each SQLAlchemy checkout adds its own)."""
        if callback not in notice_handlers(self._leased):
            self._leased.add_notice_handler(callback)

    @property
    def closed(self) -> bool:
        return self._closed or bool(self._leased.closed)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: PLE0307 - isinstance(lease, psycopg.AsyncConnection) holds
        return type(self._leased)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._leased, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._leased, name, value)

    def __repr__(self) -> str:
        return f"<tddkit AsyncLease of {self._leased!r}>"
