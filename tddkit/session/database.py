"""TestDatabase: the database tests run in, cloned from the schema template, and its connection pool.

tddkit creates, writes and drops only databases whose names start with
``tddkit_`` (see ``ownership``). A database of the run's name left by an
earlier run is replaced; one without tddkit's mark (not made by tddkit), or
one that another session is using, is never dropped: the run stops with a
one-line error instead.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from .._compat import pool_record_is_about
from ..config.settings import OWNED_PREFIX, Settings
from ..errors import ConfigError, ServerError
from ..isolation.connection import CountingCursor, GuardedConnection
from .admin import connect_admin
from .ownership import create_database, database_comment, drop_database, ensure_owned, is_marked, not_ours


class _TddkitDiscards(logging.Filter):
    """Drop psycopg_pool's warnings about tddkit's own connections being discarded or rolled back.

    tddkit returns broken and busy connections on purpose and reports their
    cause with the test; the pool's warning would only repeat it on stderr.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not pool_record_is_about(record, GuardedConnection)


logging.getLogger("psycopg.pool").addFilter(_TddkitDiscards())


@contextlib.contextmanager
def _admin_or(admin: psycopg.Connection | None, server_dsn: str) -> Iterator[psycopg.Connection]:
    """``admin`` when it is usable, else a maintenance connection of its own (closed after the block)."""
    if admin is not None and not admin.closed and not admin.broken:
        yield admin
        return
    with connect_admin(server_dsn) as own:
        yield own


class TestDatabase:
    """A database tddkit owns on a server, cloned from the schema template, with a connection pool."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, settings: Settings, server_dsn: str, *, name: str | None = None,
                 leak_triggers: bool = False) -> None:
        self.settings = settings
        self.server_dsn = server_dsn
        self.name = ensure_owned(name or settings.database or f"{OWNED_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}")
        self.pool: ConnectionPool | None = None
        self.created = False
        self.clone_seconds = 0.0
        #: The template this database was cloned from.
        self.template: str | None = None
        #: The template holds the leak check's triggers: the server does not track commit timestamps.
        self.leak_triggers = leak_triggers

    @functools.cached_property
    def dsn(self) -> str:
        """DSN of the test database (made once: every test class asks for it)."""
        return make_conninfo(self.server_dsn, dbname=self.name)

    def create(self, template: str, admin: psycopg.Connection | None = None) -> TestDatabase:
        """Clone ``template`` into this database and open the pool (``admin``: a maintenance connection to
        use, else one is opened for it)."""
        started = time.perf_counter()
        with _admin_or(admin, self.server_dsn) as admin:
            self._drop_leftover(admin)
            try:
                create_database(admin, self.name, template)
            except psycopg.errors.DuplicateDatabase:
                raise self._in_use() from None
            self.created = True  # and marked: a later run drops it if this process is killed
        self.template = template
        self.clone_seconds = time.perf_counter() - started
        try:
            self.open_pool()
        except BaseException:
            self.drop()
            raise
        return self

    def _drop_leftover(self, admin: psycopg.Connection) -> None:
        """Drop a database of this name left by an earlier run; refuse one tddkit did not make, or one that a
        session still uses."""
        comment = database_comment(admin, self.name)
        if comment is None:
            return
        if not is_marked(comment):
            raise not_ours(self.name, "set 'database' (TDDKIT_DATABASE) to a name no database has, or unset it "
                                      "to get a fresh database each run; or, if nothing in it is needed, drop it "
                                      "yourself")
        if not _sessions_gone(admin, self.name):
            raise self._in_use()  # now: DROP DATABASE would wait 5 s for the sessions to go
        try:
            drop_database(admin, self.name, force=False, strict=True)
        except psycopg.errors.ObjectInUse:
            raise self._in_use() from None

    def _in_use(self) -> ConfigError:
        return ConfigError(
            f"database {self.name!r} is in use by another session (another tddkit run with the same "
            "'database' setting?); tddkit never drops a database another run is using: give each run its "
            "own name or unset 'database' (each run then gets a fresh one)"
        )

    def recreate(self) -> None:
        """Put the database back to the template's state: drop it (ending every session on it), clone again."""
        if self.template is None:
            raise ServerError("the test database was not created from a template, so it cannot be restored")
        self.close_pool(timeout=1.0)
        with connect_admin(self.server_dsn) as admin:
            self._drop(admin)
            create_database(admin, self.name, self.template)
        self.open_pool()

    def connection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of every pooled connection."""
        options = conninfo_to_dict(self.server_dsn).get("options", "")
        statement_ms = int(self.settings.statement_timeout * 1000)
        lock_ms = int(self.settings.lock_timeout * 1000)
        options = f"{options} -c statement_timeout={statement_ms} -c lock_timeout={lock_ms} -c jit=off".strip()
        prepare_threshold = self.settings.prepare_threshold or None  # 0: never (psycopg's None)
        return {"cursor_factory": CountingCursor, "prepare_threshold": prepare_threshold, "options": options}

    def open_pool(self) -> ConnectionPool:
        """Open the pool of GuardedConnections to this database."""
        s = self.settings
        self.pool = ConnectionPool(
            self.dsn,
            connection_class=GuardedConnection,
            kwargs=self.connection_kwargs(),
            min_size=s.pool_min_size,
            max_size=s.pool_max_size,
            timeout=s.pool_timeout,
            max_lifetime=24 * 3600,
            max_idle=24 * 3600,
            name="tddkit",
            open=False,
        )
        self.pool.open(wait=s.pool_min_size > 0, timeout=max(s.pool_timeout, 30))
        return self.pool

    def close_pool(self, timeout: float = 5.0) -> None:
        """Close the pool (its connections and threads). Safe to call twice."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close(timeout=timeout)

    def drop(self, admin: psycopg.Connection | None = None) -> None:
        """Close the pool and drop the database (``admin`` as for ``create``). Safe to call twice."""
        self.close_pool()
        if self.created:
            try:
                try:
                    with _admin_or(admin, self.server_dsn) as given:
                        self._drop(given)
                except psycopg.OperationalError:
                    if admin is None:
                        raise
                    with connect_admin(self.server_dsn) as own:  # the session's connection was lost: a new one
                        self._drop(own)
            except ServerError:
                pass  # the server is gone, and the database with it
            self.created = False

    def _drop(self, admin: psycopg.Connection) -> None:
        """Drop the database, first rolling back transactions a test PREPAREd in it (they would keep it)."""
        gids = [row[0] for row in admin.execute(
            "SELECT gid FROM pg_prepared_xacts WHERE database = %s", (self.name,)).fetchall()]
        if gids:  # ROLLBACK PREPARED runs in the database the transaction belongs to
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                for gid in gids:
                    conn.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))
        drop_database(admin, self.name, strict=True)


def _sessions_gone(admin: psycopg.Connection, name: str, seconds: float = 0.5) -> bool:
    """Whether no session uses database ``name``, allowing the backends of connections just closed (an earlier
    run that has just ended) ``seconds`` to exit."""
    deadline = time.monotonic() + seconds
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s LIMIT 1", (name,)).fetchone():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
