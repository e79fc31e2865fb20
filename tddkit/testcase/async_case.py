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
from typing import ClassVar

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

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        transaction = cls._tddkit_class_transaction()
        cls._tddkit_pool = AsyncJoinedPool(transaction, name=f"tddkit async pool of {cls.__qualname__}")
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
