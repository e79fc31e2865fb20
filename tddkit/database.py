"""TestDatabase: the database tests run in, its schema, and its connection pool.

tddkit creates, writes and drops only databases whose names start with
``tddkit_``; any other name is refused with OwnershipError.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Dict, Optional

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from .config import Settings
from .connection import CountingCursor, GuardedConnection
from .errors import ConfigError, OwnershipError, PoolExhaustedError, ServerError
from .schema import SchemaSource, TemplateResult, ensure_template

OWNED_PREFIX = "tddkit_"


def ensure_owned(name: str) -> str:
    """Return ``name`` if tddkit owns it (prefix ``tddkit_``), else raise OwnershipError."""
    if not name.startswith(OWNED_PREFIX):
        raise OwnershipError(
            f"refusing to create, drop or write database {name!r}: tddkit only touches databases "
            f"whose names start with {OWNED_PREFIX!r}"
        )
    return name


def redact(dsn: str) -> str:
    """A DSN fit for messages: the password replaced by ***."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if params.get("password"):
        params["password"] = "***"
    return make_conninfo(**params)


def connect_admin(dsn: str) -> psycopg.Connection:
    """An autocommit connection to the server's maintenance database, with a clear error."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"invalid DSN {dsn!r}: {exc}; expected e.g. postgresql://user@host:5432/postgres") from None
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise ServerError(
            f"cannot connect to PostgreSQL at {redact(dsn)}: {reason}; check --dsn / TDDKIT_DATABASE_URL "
            "(host, port, user, password) or unset it to use the embedded server"
        ) from None


class TestDatabase:
    """A database tddkit owns on a server, with the schema applied and a connection pool."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, settings: Settings, server_dsn: str, name: Optional[str] = None) -> None:
        self.settings = settings
        self.server_dsn = server_dsn
        self.name = ensure_owned(name or settings.database or f"{OWNED_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}")
        self.pool: Optional[ConnectionPool] = None
        self.created = False
        self.template: Optional[TemplateResult] = None
        self.clone_seconds = 0.0

    @property
    def dsn(self) -> str:
        """DSN of the test database."""
        return make_conninfo(self.server_dsn, dbname=self.name)

    def create(self, rebuild_schema: bool = False) -> "TestDatabase":
        """Clone the schema template (building it if needed) into the database; open the pool."""
        source = SchemaSource.from_settings(self.settings)
        with connect_admin(self.server_dsn) as admin:
            self.template = ensure_template(admin, self.server_dsn, source, rebuild=rebuild_schema)
            started = time.perf_counter()
            self._drop(admin)
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(self.name), sql.Identifier(self.template.name)))
            self.created = True
            self.clone_seconds = time.perf_counter() - started
        try:
            self.open_pool()
        except BaseException:
            self.drop()
            raise
        return self

    def describe_schema(self) -> str:
        """One line: whether the schema template was reused or built, and what it cost."""
        if self.template is None:
            return "schema: not created yet"
        return f"{self.template.describe()}; cloned in {self.clone_seconds * 1000:.1f} ms"

    def connection_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of every pooled connection."""
        options = conninfo_to_dict(self.server_dsn).get("options", "")
        timeout_ms = int(self.settings.statement_timeout * 1000)
        options = f"{options} -c statement_timeout={timeout_ms} -c jit=off".strip()
        return {"cursor_factory": CountingCursor, "prepare_threshold": None, "options": options}

    def open_pool(self) -> ConnectionPool:
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

    def getconn(self) -> GuardedConnection:
        """Borrow a pooled connection; PoolExhaustedError if none frees up in time."""
        assert self.pool is not None, "TestDatabase.create() was not called"
        try:
            return self.pool.getconn()  # type: ignore[return-value]
        except PoolTimeout:
            stats = self.pool.get_stats()
            raise PoolExhaustedError(
                f"no database connection became free within pool_timeout={self.settings.pool_timeout} s: "
                f"all {stats.get('pool_size', self.settings.pool_max_size)} of pool_max_size="
                f"{self.settings.pool_max_size} are in use. A test may be holding connections it never "
                "returned; otherwise raise pool_max_size (TDDKIT_POOL_MAX_SIZE or [tool.tddkit] pool_max_size)"
            ) from None

    def putconn(self, conn: psycopg.Connection) -> None:
        """Return a connection to the pool (broken ones are discarded by the pool)."""
        assert self.pool is not None
        self.pool.putconn(conn)

    def drop(self) -> None:
        """Close the pool and drop the database. Safe to call twice."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.created:
            try:
                with connect_admin(self.server_dsn) as admin:
                    self._drop(admin)
            except ServerError:
                pass  # the server is gone, and the database with it
            self.created = False

    def _drop(self, admin: psycopg.Connection) -> None:
        ensure_owned(self.name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
