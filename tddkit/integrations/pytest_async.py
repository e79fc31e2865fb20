"""The pytest plugin's async fixtures: the test's connection as a psycopg AsyncConnection, its pool, SQLAlchemy asyncio.

``tddkit_async_conn`` and ``tddkit_async_pool`` are plain fixtures (they
await nothing), so any async test runner can use them; the SQLAlchemy ones
are async fixtures, declared with pytest-asyncio's decorator when it is
installed (they then follow its loop scope settings) and as plain async
fixtures otherwise (anyio's plugin runs them for its tests).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..isolation.class_transaction import ClassTransaction



def _async_fixture() -> Callable[..., Any]:
    """pytest-asyncio's fixture decorator when it is installed, else pytest's."""
    try:
        module = importlib.import_module("pytest_asyncio")
    except ImportError:
        return pytest.fixture
    decorator: Callable[..., Any] = module.fixture
    return decorator


async_fixture = _async_fixture()


@pytest.fixture
def tddkit_async_conn(_tddkit_test: Any) -> Any:
    """The test's connection as a psycopg AsyncConnection (guarded, counted), rolled back after the test."""
    from ..aio.connection import view_of

    return view_of(_tddkit_test.conn)


@pytest.fixture
def tddkit_async_pool(_tddkit_test: Any, _tddkit_transaction: ClassTransaction) -> Any:
    """A psycopg_pool.AsyncConnectionPool stand-in for application code: its connections are the test's own."""
    from ..aio.pool import AsyncJoinedPool

    return AsyncJoinedPool(_tddkit_transaction, name="tddkit_async_pool")


@async_fixture
async def tddkit_async_sqlalchemy_connection(_tddkit_test: Any,
                                             _tddkit_transaction: ClassTransaction) -> AsyncIterator[Any]:
    """The test's SQLAlchemy AsyncConnection (one per test), closed after it; sessions bound to it share it."""
    from . import sqlalchemy as bridge

    engine = await bridge.async_engine(_tddkit_transaction.active_connection, _tddkit_transaction.name)
    async with engine.connect() as connection:
        yield connection


@async_fixture
async def tddkit_async_sqlalchemy_session(tddkit_async_sqlalchemy_connection: Any) -> AsyncIterator[Any]:
    """An AsyncSession on the test's SQLAlchemy AsyncConnection (``join_transaction_mode="create_savepoint"``)."""
    from . import sqlalchemy as bridge

    session = bridge.async_session(tddkit_async_sqlalchemy_connection)
    yield session
    await session.close()
