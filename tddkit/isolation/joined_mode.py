"""Joined mode of the test's connection: application code's commits and rollbacks as savepoints.

This is how application code runs inside the test's transaction (``self.pool``,
SQLAlchemy, ``commit_as_savepoint``): each unit of work (a pool lease, the
test itself) has a savepoint; ``commit()`` keeps the work done so far within
the test (it releases the unit's savepoint and sets a new one),
``rollback()`` goes back to the last commit, and everything is still undone
after the test. A mixin of the connection's ``ConnectionState``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq

from .._compat import in_transaction_block

JOINED_AUTOCOMMIT = (
    "application code turned autocommit on for a connection from tddkit (self.pool, SQLAlchemy or "
    "commit_as_savepoint): it is the test's own connection, inside the test's transaction, so it cannot "
    "commit on its own. Let the code use the connection as psycopg gives it (autocommit off) and call "
    "commit(), which tddkit keeps within the test; or give it a connection of its own from self.dsn (what it "
    "commits is then reported by the leak check)"
)
JOINED_RAW_END = (
    "{sql!r} run as SQL by application code on a connection from tddkit (self.pool, SQLAlchemy or "
    "commit_as_savepoint) would end the test's transaction: call conn.commit() / conn.rollback() instead "
    "(tddkit turns them into savepoints)"
)


class Unit:
    """One unit of work of application code on the test's connection (one pool lease, or the test itself)."""

    __slots__ = ("base", "point", "owns_base", "committed")

    def __init__(self, base: str, point: str, owns_base: bool) -> None:
        self.base = base  # savepoint to go back to before the first commit
        self.point = point  # savepoint set by each commit
        self.owns_base = owns_base  # base was set for this unit (released when it ends)
        self.committed = False

    def rollback_sql(self) -> str:
        return f"ROLLBACK TO SAVEPOINT {self.point if self.committed or self.owns_base else self.base}"


class JoinedMode:
    """Joined-mode methods of a connection's ConnectionState (which provides the attributes below)."""

    __slots__ = ()

    if TYPE_CHECKING:
        joins: list[Unit]

        @property
        def conn(self) -> Any: ...

        def run_internal(self, statement: bytes) -> Any: ...

        @property
        def lost(self) -> bool: ...

        @property
        def busy(self) -> bool: ...

    def join(self, *, base: str | None = None) -> None:
        """Start a unit of work of application code: a new savepoint, or ``base`` (an existing one)."""
        point = f"tddkit_app_{len(self.joins) + 1}"
        if base is None:
            self.run_internal(f"SAVEPOINT {point}".encode())
        self.joins.append(Unit(base or point, point, owns_base=base is None))

    def leave(self, *, commit: bool = False) -> None:
        """End the innermost unit of work, keeping it within the test (``commit``) or rolling back what it
        did not commit (as psycopg_pool's putconn does)."""
        join = self.joins.pop()
        status = self.conn.pgconn.transaction_status
        if self.lost or self.busy or status == pq.TransactionStatus.IDLE:
            return  # nothing to undo on this connection any more; the test reports its state
        if commit and status != pq.TransactionStatus.INERROR:
            if join.owns_base or join.committed:  # fold the unit's savepoint into the enclosing work
                self.run_internal(f"RELEASE SAVEPOINT {join.base if join.owns_base else join.point}".encode())
            return
        statement = join.rollback_sql()
        if join.owns_base:
            statement += f"; RELEASE SAVEPOINT {join.base}"
        self.run_internal(statement.encode())

    def joined_commit(self) -> None:
        join = self.joins[-1]
        if in_transaction_block(self.conn):
            raise psycopg.ProgrammingError(
                "Explicit commit() forbidden within a Transaction context. (Transaction will be automatically "
                "committed on successful exit from context.)")
        if self.conn.pgconn.transaction_status == pq.TransactionStatus.INERROR:
            self.joined_rollback()  # PostgreSQL rolls back a failed transaction on COMMIT
            return
        release = f"RELEASE SAVEPOINT {join.point}; " if join.committed or join.owns_base else ""
        self.run_internal(f"{release}SAVEPOINT {join.point}".encode())
        join.committed = True

    def joined_rollback(self) -> None:
        if in_transaction_block(self.conn):
            raise psycopg.ProgrammingError(
                "Explicit rollback() forbidden within a Transaction context. (Either raise Rollback() or allow "
                "an exception to propagate out of the context.)")
        self.run_internal(self.joins[-1].rollback_sql().encode())
