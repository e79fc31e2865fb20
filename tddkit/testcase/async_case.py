"""AsyncTDDTestCase: TDDTestCase for asyncio code, each test in a rolled-back savepoint.

An ``unittest.IsolatedAsyncioTestCase`` with TDDTestCase's isolation, metrics
and helpers: ``self.conn`` is a psycopg ``AsyncConnection`` (the async view of
the class transaction's connection, see ``tddkit.aio``), ``self.pool`` stands
in for ``psycopg_pool.AsyncConnectionPool``, ``async def`` tests,
``asyncSetUp`` and ``asyncSetUpTestData`` run in the test's event loop (class
data in one of its own), and everything a test did is rolled back after it.
"""

from __future__ import annotations

import asyncio
import unittest
from typing import Any, ClassVar

from .._compat import hide_from_unittest_tracebacks
from ..aio.connection import AsyncGuardedConnection, view_of
from ..aio.pool import AsyncJoinedPool
from ..isolation.connection import GuardedConnection
from .case import TDDTestCase

hide_from_unittest_tracebacks(globals())


class AsyncTDDTestCase(TDDTestCase, unittest.IsolatedAsyncioTestCase):
    """Base class for asyncio database tests: ``self.conn`` (an AsyncConnection) is isolated per test and class."""

    #: The connection (a psycopg AsyncConnection), inside the class transaction: on the class, and on each test.
    conn: AsyncGuardedConnection  # type: ignore[assignment]
    _tddkit_async: ClassVar[bool] = True
    _tddkit_pool_type = AsyncJoinedPool

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.conn = view_of(cls._tddkit_class_transaction().connection())

    @classmethod
    async def asyncSetUpTestData(cls) -> None:
        """Create data shared by every test of the class (rolled back after the class), on ``cls.conn``."""

    @classmethod
    def _tddkit_shared_data(cls, conn: GuardedConnection) -> None:
        cls.conn = view_of(conn)
        cls.setUpTestData()
        if cls.asyncSetUpTestData.__func__ is not AsyncTDDTestCase.asyncSetUpTestData.__func__:  # type: ignore[attr-defined]
            asyncio.run(cls.asyncSetUpTestData())

    def _tddkit_bind(self, conn: GuardedConnection) -> None:
        type(self).conn = self.conn = view_of(conn)

    # --- SQLAlchemy asyncio ----------------------------------------------------------------

    async def sqlalchemy_async_engine(self) -> Any:
        """A SQLAlchemy ``AsyncEngine`` whose connections are the test's own, each a unit of work of its own
        (as ``sqlalchemy_engine()``); one per run. Needs ``pip install 'tddkit[sqlalchemy]'``."""
        from ..integrations import sqlalchemy as bridge

        transaction = self._tddkit_current_transaction("sqlalchemy_async_engine()")
        return await bridge.async_engine(transaction.active_connection, transaction.name)

    async def sqlalchemy_async_connection(self) -> Any:
        """The test's SQLAlchemy ``AsyncConnection`` (the same one for every call in a test, closed after it)."""
        scope = self._tddkit_current_scope("sqlalchemy_async_connection()")
        connection = scope.extras.get("sqlalchemy_async_connection")
        if connection is None or connection.closed:
            engine = await self.sqlalchemy_async_engine()
            connection = scope.extras["sqlalchemy_async_connection"] = await engine.connect()
            self.addAsyncCleanup(connection.close)
        return connection

    async def sqlalchemy_async_session(self, **session_kwargs: Any) -> Any:
        """An ``AsyncSession`` on ``sqlalchemy_async_connection()`` (``join_transaction_mode="create_savepoint"``),
        closed after the test: ``commit()``, ``rollback()`` and ``begin_nested()`` behave as in production."""
        from ..integrations import sqlalchemy as bridge

        session = bridge.async_session(await self.sqlalchemy_async_connection(), **session_kwargs)
        self.addAsyncCleanup(session.close)
        return session
