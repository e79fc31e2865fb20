"""The leak check by commit tracking, for servers with ``track_commit_timestamp`` (see the package docstring).

Per test it costs one function call in the rollback's round trip: the
server's last committed transaction, which the test's own connection never
changes (its transaction is rolled back). Only when it changed does the
check compare the database's committed state with the class's start
(``state``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from . import state

if TYPE_CHECKING:
    from ..connection import GuardedConnection

#: The last transaction committed on the server (NULL before the first).
LAST_COMMIT = b"(pg_last_committed_xact()).xid::text"

#: The class transaction's first statement: its snapshot, for the comparison, and the last commit before it.
BEGIN = b"SELECT pg_export_snapshot(), " + LAST_COMMIT


class CommitWatch:
    """The check of one class transaction on the test database at ``dsn``."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.snapshot = ""
        self.last: bytes | None = None

    def begin(self, cursor: psycopg.Cursor) -> None:
        """Export the class transaction's snapshot and note the last commit."""
        cursor.execute(BEGIN, prepare=False)
        snapshot, last = cursor.fetchone() or ("", None)
        self.snapshot, self.last = str(snapshot), None if last is None else str(last).encode()

    def probe(self) -> bytes:
        """The expression read after each test's rollback."""
        return LAST_COMMIT

    def changes(self, value: bytes | None, conn: GuardedConnection) -> str | None:
        """Nothing when no transaction committed since the last look; else what the committed state of the
        database shows changed since the class began (None when nothing: a commit elsewhere)."""
        if value == self.last:
            return None
        self.last = value
        try:
            return state.changed_since(self.dsn, self.snapshot) or None
        except psycopg.Error as exc:
            return f"a commit tddkit could not examine ({str(exc).strip()})"
