"""Joined mode of the test's connection: application code's commits and rollbacks as savepoints.

This is how application code runs inside the test's transaction (``self.pool``,
SQLAlchemy, ``commit_as_savepoint``): each unit of work (a pool lease, a
SQLAlchemy Connection, the test itself) has a savepoint; ``commit()`` keeps
the work done so far within the test, ``rollback()`` goes back to the last
commit, and everything is still undone after the test. A mixin of the
connection's ``ConnectionState``.

Several units can be open at once on the one connection, but savepoints nest:
releasing or rolling back to one destroys every savepoint set after it. So a
unit touches its savepoint only while it is the innermost one (no other unit's
savepoint and no savepoint application code set is above it): a unit that
ends, commits or rolls back under a newer one never undoes the newer one's
work; its own uncommitted work then stays until the test's rollback, and a
commit waits until the units above it have ended. The savepoints application
code sets with SQL (SQLAlchemy's ``begin_nested()``) are followed as they are
set, released and rolled back to, so tddkit never releases one from under it.
A unit whose connection is busy (a query running, on this thread or another:
the garbage collector closing a forgotten SQLAlchemy Connection) or lost is
ended without a statement.
"""

from __future__ import annotations

import itertools
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

_names = itertools.count(1)


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

        @property
        def conn(self) -> Any: ...

        def run_internal(self, statement: bytes) -> Any: ...

        @property
        def lost(self) -> bool: ...

        @property
        def busy(self) -> bool: ...

    # --- units ---------------------------------------------------------------------------

    def join(self, *, base: str | None = None, lazy: bool = False) -> Unit:
        """Start a unit of work of application code: a new savepoint (now, or before its first statement
        when ``lazy``), or ``base`` (an existing one)."""
        unit = Unit(f"tddkit_app_{next(_names)}", base=base, lazy=lazy)
        self.joins.append(unit)
        if not lazy and base is None:
            self.open_unit(unit)
        return unit

    def open_unit(self, unit: Unit) -> None:
        """Set the unit's savepoint if it has none (it becomes the innermost unit)."""
        if unit.open:
            return
        self.run_internal(f"SAVEPOINT {unit.point}".encode())
        unit.savepoint, unit.owned, unit.open = unit.point, True, True
        self.joins.remove(unit)
        self.joins.append(unit)

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

    def commit_unit(self, unit: Unit) -> None:
        """Keep the unit's work so far within the test."""
        if not unit.open or unit not in self.joins or not self._usable():
            return
        if self.conn.pgconn.transaction_status == pq.TransactionStatus.INERROR:
            self.rollback_unit(unit)  # PostgreSQL rolls back a failed transaction on COMMIT
            return
        if not self._innermost(unit):
            unit.pending_commit = True
            return
        self._commit(unit)

    def _commit(self, unit: Unit) -> None:
        release = f"RELEASE SAVEPOINT {unit.savepoint}" if unit.owned else ""
        if unit.lazy:
            if release:
                self.run_internal(release.encode())
            unit.open = False
        else:
            self.run_internal(f"{release}{'; ' if release else ''}SAVEPOINT {unit.point}".encode())
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

    def rollback_unit(self, unit: Unit) -> None:
        """Undo the unit's work since its last commit (only while it is the innermost unit)."""
        unit.pending_commit = False
        if unit.open and not unit.pinned and unit in self.joins and self._usable() and self._innermost(unit):
            if unit.lazy:  # set again before its next statement, if any
                self.run_internal(f"ROLLBACK TO SAVEPOINT {unit.point}; RELEASE SAVEPOINT {unit.point}".encode())
                unit.open = False
            else:
                self.run_internal(f"ROLLBACK TO SAVEPOINT {unit.savepoint}".encode())

    def end_unit(self, unit: Unit, *, commit: bool = False) -> None:
        """End a unit: its work is kept (``commit``) or what it did not commit is rolled back. Under a newer
        unit, or on a busy or lost connection, no statement is sent."""
        if unit not in self.joins:
            return  # ended already, or a unit of an earlier test
        usable = self._usable()
        if unit.open and usable and self._innermost(unit):
            failed = self.conn.pgconn.transaction_status == pq.TransactionStatus.INERROR
            keep = (commit or unit.pinned) and not failed
            statement = "" if keep else f"ROLLBACK TO SAVEPOINT {unit.savepoint}"
            if unit.owned:
                statement += f"{'; ' if statement else ''}RELEASE SAVEPOINT {unit.savepoint}"
            if statement:
                self.run_internal(statement.encode())
            unit.open = False
            if keep:
                self._pin_below(unit)
        if unit.open and usable:
            return self._forget(unit)  # under a newer unit: its savepoint stays until that one is undone
        self.joins.remove(unit)
        self._settle()

    def _forget(self, unit: Unit) -> None:
        """Drop an ended unit whose savepoint stays under newer ones; application code's savepoints above it
        are now above the open unit below it."""
        index = self.joins.index(unit)
        del self.joins[index]
        below = next((u for u in reversed(self.joins[:index]) if u.open), None)
        if below is not None:
            below.above.extend(unit.above)

    def _settle(self) -> None:
        """A unit that committed under one that just ended commits now."""
        for unit in reversed(self.joins):
            if unit.open:
                if unit.pending_commit and self._innermost(unit) and self._usable():
                    self._commit(unit)
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

    def joined_commit(self, unit: Unit) -> None:
        if in_transaction_block(self.conn):
            raise psycopg.ProgrammingError(
                "Explicit commit() forbidden within a Transaction context. (Transaction will be automatically "
                "committed on successful exit from context.)")
        if not unit.open and not unit.lazy:
            self.open_unit(unit)  # its savepoint went with one application code released: start again
            return
        self.commit_unit(unit)

    def joined_rollback(self, unit: Unit) -> None:
        if in_transaction_block(self.conn):
            raise psycopg.ProgrammingError(
                "Explicit rollback() forbidden within a Transaction context. (Either raise Rollback() or allow "
                "an exception to propagate out of the context.)")
        self.rollback_unit(unit)
        if not unit.open and not unit.lazy and unit in self.joins and self._usable():
            self.open_unit(unit)
