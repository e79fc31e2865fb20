"""Which leak check a class transaction runs (see the package docstring), and the error of a test it caught."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ...errors import IsolationError
from ..advisory_locks import RELEASE_ALL
from .commits import CommitWatch
from .triggers import TriggerWatch

if TYPE_CHECKING:
    import psycopg

    from ..connection import GuardedConnection
    from ..lending import PooledDatabase


class LeakWatch(Protocol):
    """The leak check of one class transaction."""

    def begin(self, cursor: psycopg.Cursor) -> None:
        """Run the check's first statement on the new class transaction's cursor (psycopg sends BEGIN first)."""

    def probe(self) -> bytes:
        """An SQL expression, evaluated in the round trip right after each test's rollback."""
        ...

    def changes(self, value: bytes | None, conn: GuardedConnection) -> str | None:
        """What other connections committed during the test, given the probe's ``value``; None when nothing."""
        ...


def tracks_commits(conn: psycopg.Connection) -> bool:
    """Whether the server of ``conn`` records commit timestamps (``track_commit_timestamp``): the leak check
    then needs nothing in the test database."""
    row = conn.execute("SELECT current_setting('track_commit_timestamp') = 'on'").fetchone()
    return bool(row and row[0])


def new_watch(database: PooledDatabase) -> LeakWatch:
    """The check of a class transaction on ``database``: by its template's triggers, or by commit tracking."""
    return TriggerWatch() if database.leak_triggers else CommitWatch(database.dsn)


def with_probe(statements: bytes, watch: LeakWatch | None) -> bytes:
    """``statements`` (the per-test rollback) with the check's probe read last (unchanged without a check): one
    more column of their last SELECT when that releases the advisory locks, else a SELECT of its own."""
    if watch is None:
        return statements
    return statements + (b", " if statements.endswith(RELEASE_ALL) else b"; SELECT ") + watch.probe()


def after_rollback(watch: LeakWatch | None) -> bytes:
    """The statement after the rollback of a test that holds no advisory lock of its scope's: the release of the
    session advisory locks, with the check's probe."""
    return with_probe(RELEASE_ALL, watch).removeprefix(b"; ")


def leak_error(changes: str) -> IsolationError:
    """The error of a test during which another connection committed ``changes``."""
    return IsolationError(
        f"another connection committed changes during this test: {changes}. They escaped the test's transaction, "
        "so later tests would see them. Run the code under test on the test's connection instead: "
        "self.pool (a ConnectionPool stand-in), self.sqlalchemy_session() / self.sqlalchemy_connection(), or "
        "commit_as_savepoint = True for code handed self.conn. tddkit cloned the test database again from the "
        "schema template, so later tests are unaffected (set leak_check = false to turn this check off)"
    )
