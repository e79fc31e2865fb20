"""Lease: the test's connection as a DBAPI connection of its own, one per SQLAlchemy Connection.

SQLAlchemy gives each of its Connections a DBAPI connection from its pool;
tddkit's engine hands each a Lease of the running test's connection, with a
unit of work of its own (see ``joined_mode``): its ``commit()`` keeps its work
within the test, its ``rollback()`` undoes only its own work, and its
``close()`` (SQLAlchemy's checkin, or the garbage collector finalizing a
Connection nobody closed) ends its unit without touching the work of any
other, and without a statement while the connection is busy. Its savepoint is
set before its first statement, so opening and closing a Connection that runs
nothing costs nothing. Everything else is the test's connection's, and it
passes psycopg's ``isinstance`` checks as that connection does (psycopg's
``TypeInfo.fetch`` and ``register_*`` functions take it).
"""

from __future__ import annotations

from typing import Any

from .._compat import notice_handlers
from ..errors import TddkitError
from .connection import GuardedConnection
from .joined_mode import Unit

STALE = ("a SQLAlchemy Connection (or Session) opened in an earlier test was used: connections from tddkit's "
         "engine belong to the test that opened them, whose data is rolled back. Open them in each test (or setUp, "
         "or a function-scoped fixture)")


class LeaseBase:
    """What a lease of the test's connection is, sync or async: its unit of work, and the connection for the rest."""

    __slots__ = ("_leased", "_unit", "_closed")
    _leased: Any  # the GuardedConnection (a Lease's) or its async view (an AsyncLease's)
    _unit: Unit
    _closed: bool

    def __init__(self, conn: Any) -> None:
        object.__setattr__(self, "_leased", conn)
        object.__setattr__(self, "_unit", conn._tddkit.join(lazy=True))
        object.__setattr__(self, "_closed", False)

    def _check(self) -> Any:
        """The connection's state, once the lease is known to be usable (open, of the running test)."""
        state = self._leased._tddkit
        if self._closed or self._unit not in state.joins:
            raise TddkitError(STALE if not self._closed else "this SQLAlchemy connection's lease is closed")
        return state

    def _closing(self) -> bool:
        """Mark the lease closed; False if it already was."""
        if self._closed:
            return False
        object.__setattr__(self, "_closed", True)
        return True

    @property
    def closed(self) -> bool:
        return self._closed or bool(self._leased.closed)

    def add_notice_handler(self, callback: Any) -> None:
        """Add ``callback`` to the connection's notice handlers, once (each SQLAlchemy checkout adds its own)."""
        if callback not in notice_handlers(self._leased):
            self._leased.add_notice_handler(callback)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # noqa: PLE0307 - isinstance(lease, psycopg.Connection) holds, as for the connection
        return type(self._leased)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._leased, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._leased, name, value)

    def __repr__(self) -> str:
        return f"<tddkit lease of {self._leased!r}>"


class Lease(LeaseBase):
    """A DBAPI connection for SQLAlchemy: the test's connection, in a unit of work of its own."""

    __slots__ = ()
    _leased: GuardedConnection

    def _ready(self) -> GuardedConnection:
        """The connection, with this lease's savepoint set (before a statement)."""
        self._check().open_unit(self._unit)
        return self._leased

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return self._ready().cursor(*args, **kwargs)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._ready().execute(*args, **kwargs)

    def commit(self) -> None:
        self._leased._tddkit.commit_unit(self._unit)

    def rollback(self) -> None:
        self._leased._tddkit.rollback_unit(self._unit)

    def close(self) -> None:
        if self._closing():
            self._leased._tddkit.end_unit(self._unit)
