"""SQLAlchemy 2 on the test's connection: an Engine, Connections, and ORM Sessions joined to them.

tddkit's Engine (dialect ``postgresql+psycopg``, one per process, so the
dialect is initialised once per run) lends the running test's own psycopg
connection: every SQLAlchemy Connection made from it gets a ``Lease`` with a
unit of work of its own (see ``tddkit.isolation.leases``), so its statements
run inside the test's transaction and are counted like ``self.conn``'s, its
commits are kept within the test, and closing it (or the garbage collector
finalizing it) never undoes another's work. ``Session(...,
join_transaction_mode="create_savepoint")`` is SQLAlchemy's own recipe for
joining a session into an external transaction. Install with
``pip install 'tddkit[sqlalchemy]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import TddkitError
from ..isolation.connection import GuardedConnection
from ..isolation.joined import OUTSIDE
from ..isolation.leases import Lease

MISSING = ("SQLAlchemy is not installed: pip install 'tddkit[sqlalchemy]' (SQLAlchemy 2) to use "
           "sqlalchemy_engine() / sqlalchemy_connection() / sqlalchemy_session()")

_engine: Any = None
_async_engine: Any = None
#: Where the engine's connections come from: the running test's connection (None outside a test), and its owner.
_lender: tuple[Callable[[], GuardedConnection | None], str] | None = None


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError:
        raise TddkitError(MISSING) from None
    if int(sqlalchemy.__version__.split(".")[0]) < 2:
        raise TddkitError(f"SQLAlchemy {sqlalchemy.__version__} is installed; tddkit needs SQLAlchemy 2: "
                          "pip install 'tddkit[sqlalchemy]'")
    return sqlalchemy


def engine(active_connection: Callable[[], GuardedConnection | None], owner: str) -> Any:
    """tddkit's Engine, lending ``active_connection()`` (the running test's connection) from now on."""
    global _engine, _lender
    _lender = (active_connection, owner)
    if _engine is None:
        sqlalchemy = _sqlalchemy()
        from sqlalchemy.pool import NullPool

        made = sqlalchemy.create_engine("postgresql+psycopg://", creator=_lease, poolclass=NullPool)
        conn = active_connection()
        if conn is not None:
            with conn._tddkit.uncounted(), made.connect():
                pass  # the dialect's first connection asks the server a few questions: not the test's statements
        _engine = made
    return _engine


def _lease() -> Lease:
    return Lease(_lent_connection())


def _lent_connection() -> GuardedConnection:
    active, owner = _lender or (lambda: None, "a TDDTestCase")
    conn = active()
    if conn is None:
        raise TddkitError(OUTSIDE.format(name="tddkit's SQLAlchemy engine", owner=owner))
    return conn


async def async_engine(active_connection: Callable[[], GuardedConnection | None], owner: str) -> Any:
    """tddkit's asyncio Engine (``create_async_engine``), lending the async view of ``active_connection()``."""
    global _async_engine, _lender
    _lender = (active_connection, owner)
    if _async_engine is None:
        _sqlalchemy()
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        made = create_async_engine("postgresql+psycopg://", async_creator=_async_lease, poolclass=NullPool)
        conn = active_connection()
        if conn is not None:
            with conn._tddkit.uncounted():
                async with made.connect():
                    pass  # the dialect's first connection asks the server a few questions: not the test's statements
        _async_engine = made
    return _async_engine


async def _async_lease() -> Any:
    from ..aio.connection import view_of
    from ..aio.leases import AsyncLease

    return AsyncLease(view_of(_lent_connection()))


def session(connection: Any, **session_kwargs: Any) -> Any:
    """An ORM Session on ``connection``: joined with a savepoint if the connection is in a transaction, else
    it begins and commits the connection's own (both kept within the test)."""
    _sqlalchemy()
    from sqlalchemy.orm import Session

    session_kwargs.setdefault("join_transaction_mode", "create_savepoint")
    return Session(bind=connection, **session_kwargs)


def async_session(connection: Any, **session_kwargs: Any) -> Any:
    """``session()`` for SQLAlchemy asyncio: an AsyncSession on an AsyncConnection."""
    _sqlalchemy()
    from sqlalchemy.ext.asyncio import AsyncSession

    session_kwargs.setdefault("join_transaction_mode", "create_savepoint")
    return AsyncSession(bind=connection, **session_kwargs)
