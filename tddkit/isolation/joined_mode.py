"""Joined mode of the test's connection: application code's commits and rollbacks as savepoints.

This is how application code runs inside the test's transaction (``self.pool``,
SQLAlchemy, ``commit_as_savepoint``): each unit of work (a pool lease, a
SQLAlchemy Connection, the test itself) has a savepoint; ``commit()`` keeps
the work done so far within the test, ``rollback()`` goes back to the last
commit, and everything is still undone after the test. A mixin of the
connection's ``ConnectionState``.

Savepoints nest: releasing or rolling back to one destroys every savepoint set
after it. So a unit touches its savepoint only while it is the innermost one
(no other unit's savepoint and no savepoint application code set is above
it); under a newer one its uncommitted work stays until the test's rollback,
and a commit waits until the units above it have ended. Savepoints that
application code sets with SQL (``begin_nested()``) are followed. On a busy
connection (a query running: the garbage collector closing a forgotten
SQLAlchemy Connection) or a lost one, a unit ends without a statement. Each
operation plans its statements, run sync or, from async code, on the view.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq

from .._compat import in_transaction_block, query_results_generator

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

_names = itertools.count(1)
_execute = query_results_generator()
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


class Unit:
    """One unit of work of application code on the test's connection."""

    __slots__ = ("savepoint", "owned", "point", "lazy", "open", "pending_commit", "pinned", "above")

    def __init__(self, point: str, *, base: str | None = None, lazy: bool = False) -> None:
        self.point = point  # the savepoint this unit sets (at its start or first statement, and at each commit)
        self.savepoint = base or point  # where its rollback goes back to
        self.owned = base is None  # ``savepoint`` was set by this unit (a ``base`` is someone else's)
        self.lazy = lazy  # set before its first statement and after a commit (SQLAlchemy), not at once
        self.open = base is not None  # its savepoint exists
        self.pending_commit = False  # committed under a newer unit: released once that one ends
        self.pinned = False  # a newer unit's committed work lies after its savepoint: no rollback to it
        self.above: list[str] = []  # savepoints application code set after this unit's own, innermost last


class JoinedMode:
    """Joined-mode methods of a connection's ConnectionState (which provides the attributes below)."""

    __slots__ = ()

    if TYPE_CHECKING:
        joins: list[Unit]
        view: Any  # the async view of the connection (``tddkit.aio``), if any

        def view_lock(self) -> contextlib.AbstractAsyncContextManager[None]: ...

        @property
        def conn(self) -> Any: ...

        def run_internal(self, statement: bytes) -> Any: ...

        @property
        def lost(self) -> bool: ...

        @property
        def busy(self) -> bool: ...

    # --- units: each operation plans its statements (one round trip), run sync or async -------------------

    def join(self, *, base: str | None = None, lazy: bool = False) -> Unit:
        """Start a unit of work of application code: a new savepoint (now, or before its first statement
        when ``lazy``), or ``base`` (an existing one)."""
        unit = Unit(f"tddkit_app_{next(_names)}", base=base, lazy=lazy)
        self.joins.append(unit)
        if not lazy and base is None:
            self.open_unit(unit)
        return unit

    async def ajoin(self) -> Unit:
        """``join()`` from async code (a new savepoint, set now)."""
        unit = Unit(f"tddkit_app_{next(_names)}")
        self.joins.append(unit)
        await self.aopen_unit(unit)
        return unit

    def open_unit(self, unit: Unit) -> None:
        """Set the unit's savepoint if it has none (it becomes the innermost unit)."""
        self._run(self._plan_open, unit)

    async def aopen_unit(self, unit: Unit) -> None:
        await self._arun(self._plan_open, unit)

    def commit_unit(self, unit: Unit) -> None:
        """Keep the unit's work so far within the test."""
        self._run(self._plan_commit, unit)

    async def acommit_unit(self, unit: Unit) -> None:
        await self._arun(self._plan_commit, unit)

    def rollback_unit(self, unit: Unit) -> None:
        """Undo the unit's work since its last commit (only while it is the innermost unit)."""
        self._run(self._plan_rollback, unit)

    async def arollback_unit(self, unit: Unit) -> None:
        await self._arun(self._plan_rollback, unit)

    def end_unit(self, unit: Unit, *, commit: bool = False) -> None:
        """End a unit: its work is kept (``commit``) or what it did not commit is rolled back. Under a newer
        unit, or on a busy or lost connection, no statement is sent."""
        self._run(self._plan_end, unit, commit)

    async def aend_unit(self, unit: Unit, *, commit: bool = False) -> None:
        await self._arun(self._plan_end, unit, commit)

    def app_unit(self) -> Unit | None:
        """The unit ``conn.commit()`` and ``rollback()`` of the connection itself act on (the innermost that is
        not a SQLAlchemy Connection's), if any."""
        for unit in reversed(self.joins):
            if not unit.lazy:
                return unit
        return None

    def leave(self, *, commit: bool = False) -> None:
        """End the innermost pool lease or test unit (as psycopg_pool's putconn does, unless ``commit``)."""
        unit = self.app_unit()
        if unit is not None:
            self.end_unit(unit, commit=commit)

    def _run(self, plan: Callable[..., None], *args: Any) -> None:
        sql: list[str] = []
        plan(sql, *args)
        if sql:
            self.run_internal("; ".join(sql).encode())

    async def _arun(self, plan: Callable[..., None], *args: Any) -> None:
        async with self.view_lock():
            sql: list[str] = []
            plan(sql, *args)
            if sql:
                await self.arun_internal("; ".join(sql).encode())

    async def arun_internal(self, statement: bytes) -> Any:
        """``run_internal`` on the async view, from async code holding ``view_lock()``."""
        view = self.view
        view.pgconn.send_query(statement)
        results = await view.wait(_execute(view.pgconn))
        for result in results:
            if result.status not in _OK:
                raise psycopg.errors.error_from_result(result, encoding=view.info.encoding)
        return results[-1]

    # --- the plans ---------------------------------------------------------------------------

    def _plan_open(self, sql: list[str], unit: Unit) -> None:
        if unit.open or unit not in self.joins:
            return
        sql.append(f"SAVEPOINT {unit.point}")
        unit.savepoint, unit.owned, unit.open = unit.point, True, True
        self.joins.remove(unit)
        self.joins.append(unit)

    def _plan_commit(self, sql: list[str], unit: Unit) -> None:
        if not unit.open or unit not in self.joins or not self._usable():
            return
        if self.conn.pgconn.transaction_status == pq.TransactionStatus.INERROR:
            return self._plan_rollback(sql, unit)  # PostgreSQL rolls back a failed transaction on COMMIT
        if not self._innermost(unit):
            unit.pending_commit = True
            return
        self._plan_release(sql, unit)

    def _plan_release(self, sql: list[str], unit: Unit) -> None:
        if unit.owned:
            sql.append(f"RELEASE SAVEPOINT {unit.savepoint}")
        if unit.lazy:
            unit.open = False
        else:
            sql.append(f"SAVEPOINT {unit.point}")
            unit.savepoint, unit.owned = unit.point, True
        unit.pending_commit = unit.pinned = False
        self._pin_below(unit)

    def _pin_below(self, unit: Unit) -> None:
        """The unit's committed work now lies within the savepoints of the open units before it: none of them
        may roll back to its savepoint (that would undo this unit's committed work)."""
        for other in self.joins:
            if other is unit:
                return
            other.pinned = other.pinned or other.open

    def _plan_rollback(self, sql: list[str], unit: Unit) -> None:
        unit.pending_commit = False
        if unit.open and not unit.pinned and unit in self.joins and self._usable() and self._innermost(unit):
            sql.append(f"ROLLBACK TO SAVEPOINT {unit.savepoint}")
            if unit.lazy:  # set again before its next statement, if any
                sql.append(f"RELEASE SAVEPOINT {unit.point}")
                unit.open = False

    def _plan_end(self, sql: list[str], unit: Unit, commit: bool) -> None:
        if unit not in self.joins:
            return  # ended already, or a unit of an earlier test
        usable = self._usable()
        if unit.open and usable and self._innermost(unit):
            failed = self.conn.pgconn.transaction_status == pq.TransactionStatus.INERROR
            keep = (commit or unit.pinned) and not failed
            if not keep:
                sql.append(f"ROLLBACK TO SAVEPOINT {unit.savepoint}")
            if unit.owned:
                sql.append(f"RELEASE SAVEPOINT {unit.savepoint}")
            unit.open = False
            if keep:
                self._pin_below(unit)
        if unit.open and usable:
            return self._forget(unit)  # under a newer unit: its savepoint stays until that one is undone
        self.joins.remove(unit)
        self._plan_settle(sql)

    def _forget(self, unit: Unit) -> None:
        """Drop an ended unit whose savepoint stays under newer ones; application code's savepoints above it
        are now above the open unit below it."""
        index = self.joins.index(unit)
        del self.joins[index]
        below = next((u for u in reversed(self.joins[:index]) if u.open), None)
        if below is not None:
            below.above.extend(unit.above)

    def _plan_settle(self, sql: list[str]) -> None:
        """A unit that committed under one that just ended commits now."""
        for unit in reversed(self.joins):
            if unit.open:
                if unit.pending_commit and self._innermost(unit) and self._usable():
                    self._plan_release(sql, unit)
                return

    def _innermost(self, unit: Unit) -> bool:
        for other in reversed(self.joins):
            if other is unit:
                return not unit.above
            if other.open:
                return False
        return False

    def _usable(self) -> bool:
        return not (self.lost or self.busy) and \
            self.conn.pgconn.transaction_status != pq.TransactionStatus.IDLE

    # --- savepoints of application code -----------------------------------------------------

    def app_savepoint(self, kind: str, name: str) -> None:
        """Follow a savepoint statement application code ran (it succeeded): ``kind`` is ``SAVEPOINT``,
        ``RELEASE`` or ``ROLLBACK``; units whose savepoints it destroyed are no longer open."""
        opened = [unit for unit in self.joins if unit.open]
        if kind == "SAVEPOINT":
            if opened:
                opened[-1].above.append(name)
            return
        for index in range(len(opened) - 1, -1, -1):
            above = opened[index].above
            if name in above:
                cut = len(above) - above[::-1].index(name) - (kind == "RELEASE")
                del above[cut:]
                destroyed = opened[index + 1:]
                break
        else:
            destroyed = opened  # set before every unit (or by psycopg's conn.transaction())
        for unit in destroyed:
            unit.open, unit.above = False, []

    # --- the connection's own commit() and rollback() ------------------------------------------

    def joined_commit(self, unit: Unit, conn: Any) -> None:
        self._run(self._plan_joined_commit, unit, conn)

    async def ajoined_commit(self, unit: Unit, conn: Any) -> None:
        await self._arun(self._plan_joined_commit, unit, conn)

    def joined_rollback(self, unit: Unit, conn: Any) -> None:
        self._run(self._plan_joined_rollback, unit, conn)

    async def ajoined_rollback(self, unit: Unit, conn: Any) -> None:
        await self._arun(self._plan_joined_rollback, unit, conn)

    def _plan_joined_commit(self, sql: list[str], unit: Unit, conn: Any) -> None:
        if in_transaction_block(conn):
            raise psycopg.ProgrammingError(
                "Explicit commit() forbidden within a Transaction context. (Transaction will be automatically "
                "committed on successful exit from context.)")
        if not unit.open and not unit.lazy:
            return self._plan_open(sql, unit)  # its savepoint went with one application code released: again
        self._plan_commit(sql, unit)

    def _plan_joined_rollback(self, sql: list[str], unit: Unit, conn: Any) -> None:
        if in_transaction_block(conn):
            raise psycopg.ProgrammingError(
                "Explicit rollback() forbidden within a Transaction context. (Either raise Rollback() or allow "
                "an exception to propagate out of the context.)")
        self._plan_rollback(sql, unit)
        if not unit.open and not unit.lazy and unit in self.joins and self._usable():
            self._plan_open(sql, unit)
