"""SQLAlchemy 2 on the test's connection: a Connection, and ORM Sessions joined to it with savepoints.

The engine wraps the test's own psycopg connection (``creator`` plus a
``StaticPool``), so every statement runs inside the test's transaction and is
counted like ``self.conn``'s. The connection is in joined mode: SQLAlchemy's
commits and rollbacks become savepoint operations, and ``Session(...,
join_transaction_mode="create_savepoint")`` is SQLAlchemy's own recipe for
joining a session into an external transaction. Install with
``pip install 'tddkit[sqlalchemy]'``.
"""

from __future__ import annotations

from typing import Any

from ..errors import TddkitError
from ..isolation.connection import GuardedConnection

MISSING = ("SQLAlchemy is not installed: pip install 'tddkit[sqlalchemy]' (SQLAlchemy 2) to use "
           "sqlalchemy_connection() / sqlalchemy_session()")


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError:
        raise TddkitError(MISSING) from None
    if int(sqlalchemy.__version__.split(".")[0]) < 2:
        raise TddkitError(f"SQLAlchemy {sqlalchemy.__version__} is installed; tddkit needs SQLAlchemy 2: "
                          "pip install 'tddkit[sqlalchemy]'")
    return sqlalchemy


def engine_for(conn: GuardedConnection) -> Any:
    """An Engine (dialect ``postgresql+psycopg``) whose one connection is ``conn``."""
    sqlalchemy = _sqlalchemy()
    from sqlalchemy.pool import StaticPool

    return sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: conn, poolclass=StaticPool)


def connect(engine: Any, conn: GuardedConnection) -> Any:
    """A SQLAlchemy Connection on ``conn``, in a unit of work of its own (a savepoint)."""
    conn._tddkit.join()
    try:
        return engine.connect()
    except BaseException:
        conn._tddkit.leave()
        raise


def session(connection: Any, **session_kwargs: Any) -> Any:
    """An ORM Session joined to ``connection``'s transaction: its commits and rollbacks are savepoints."""
    _sqlalchemy()
    from sqlalchemy.orm import Session

    if not connection.in_transaction():
        connection.begin()
    session_kwargs.setdefault("join_transaction_mode", "create_savepoint")
    return Session(bind=connection, **session_kwargs)
