"""TestDatabase: the database tests run in, its schema, and its connection pool.

tddkit creates, writes and drops only databases whose names start with
``tddkit_``; any other name is refused with OwnershipError. Connections a test
borrows from the pool and does not return are reset and returned after it
(``track_borrowed``); a server that went away is detected once and reported
as ServerError by every later request instead of a pool timeout each.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from typing import Any, Callable, Dict, Optional

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from .config import Settings
from .connection import CountingCursor, GuardedConnection
from .errors import ConfigError, PoolExhaustedError, ServerError
from .ownership import OWNED_PREFIX, drop_database, ensure_owned
from .schema import SchemaSource, TemplateResult, ensure_template


#: After the server went away or crashed, how long to wait for it to come back (crash recovery).
SERVER_RECOVERY_WAIT = 10.0


class _TddkitDiscards(logging.Filter):
    """Drop psycopg_pool's warnings about tddkit's own connections being discarded or rolled back.

    tddkit returns broken and busy connections on purpose and reports their
    cause with the test; the pool's warning would only repeat it on stderr.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(arg, GuardedConnection) for arg in args)


logging.getLogger("psycopg.pool").addFilter(_TddkitDiscards())


def redact(dsn: str) -> str:
    """A DSN fit for messages: the password replaced by ***."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if params.get("password"):
        params["password"] = "***"
    return make_conninfo(**params)


def _hide_password(text: str) -> str:
    """``text`` with anything that looks like a password in a URL or key=value DSN replaced by ***."""
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)


def connect_admin(dsn: str) -> psycopg.Connection:
    """An autocommit connection to the server's maintenance database, with a clear error."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.ProgrammingError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(
            f"invalid DSN {_hide_password(dsn)!r}: {_hide_password(reason)}; "
            "expected e.g. postgresql://user:password@host:5432/postgres or 'host=... port=... user=...'"
        ) from None
    except psycopg.OperationalError as exc:
        raise connection_error(dsn, exc) from None


def connection_error(dsn: str, exc: psycopg.OperationalError) -> ServerError:
    """A one-line ServerError saying why connecting to ``dsn`` failed and what to change."""
    reason = " ".join(str(exc).split())
    where = redact(dsn)
    if "password authentication failed" in reason:
        return ServerError(
            f"PostgreSQL at {where} rejected the password ({reason.rsplit('FATAL:', 1)[-1].strip()}): put the "
            "right one in --dsn / TDDKIT_DATABASE_URL (postgresql://USER:PASSWORD@HOST:PORT/DB), PGPASSWORD "
            "or ~/.pgpass"
        )
    if "no password supplied" in reason:
        return ServerError(
            f"PostgreSQL at {where} asks for a password and none was given: add it to --dsn / "
            "TDDKIT_DATABASE_URL (postgresql://USER:PASSWORD@HOST:PORT/DB), PGPASSWORD or ~/.pgpass"
        )
    return ServerError(
        f"cannot connect to PostgreSQL at {where}: {reason}; check --dsn / TDDKIT_DATABASE_URL "
        "(host, port, user, password) or unset it to use the embedded server"
    )


class Borrowed:
    """Connections lent by a TestDatabase while this tracker was active, so a test's leftovers can be returned."""

    def __init__(self, database: "TestDatabase") -> None:
        self.database = database
        self.out: Dict[int, GuardedConnection] = {}

    def reclaim(self) -> int:
        """Stop tracking; reset and return every connection still out; return how many there were."""
        self.database.stop_tracking(self)
        leftovers, self.out = list(self.out.values()), {}
        for conn in leftovers:
            self.database.recycle(conn)
        return len(leftovers)


class TestDatabase:
    """A database tddkit owns on a server, with the schema applied and a connection pool."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(
        self,
        settings: Settings,
        server_dsn: str,
        name: Optional[str] = None,
        server_exit: Optional[Callable[[], Optional[str]]] = None,
    ) -> None:
        self.settings = settings
        self.server_dsn = server_dsn
        self.name = ensure_owned(name or settings.database or f"{OWNED_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}")
        self.pool: Optional[ConnectionPool] = None
        self.created = False
        self.template: Optional[TemplateResult] = None
        self.clone_seconds = 0.0
        #: Why the server stopped, when this process started it (None while it runs).
        self.server_exit = server_exit
        #: Set once the server is found gone: the message every later request raises.
        self.gone: Optional[str] = None
        self._tracking = threading.local()

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
        statement_ms = int(self.settings.statement_timeout * 1000)
        lock_ms = int(self.settings.lock_timeout * 1000)
        options = f"{options} -c statement_timeout={statement_ms} -c lock_timeout={lock_ms} -c jit=off".strip()
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
        """Borrow a pooled connection: PoolExhaustedError if none frees up in time, ServerError if the server is gone.

        While a test runs (``track_borrowed``), what it borrows is recorded so it can be given back after it.
        """
        pool = self.pool
        if pool is None:
            if self.gone:
                raise ServerError(self.gone)
            raise RuntimeError("TestDatabase.create() was not called")
        try:
            conn: GuardedConnection = pool.getconn()  # type: ignore[assignment]
        except PoolTimeout:
            self.check_server()
            stats = pool.get_stats()
            raise PoolExhaustedError(
                f"no database connection became free within pool_timeout={self.settings.pool_timeout} s: "
                f"all {stats.get('pool_size', self.settings.pool_max_size)} of pool_max_size="
                f"{self.settings.pool_max_size} are in use. Borrow fewer at once (tddkit takes back what a test "
                "still holds when it ends) or raise pool_max_size (TDDKIT_POOL_MAX_SIZE or [tool.tddkit] "
                "pool_max_size)"
            ) from None
        tracker: Optional[Borrowed] = getattr(self._tracking, "current", None)
        if tracker is not None:
            tracker.out[id(conn)] = conn
            conn.__dict__["_tddkit_borrowed"] = tracker
        return conn

    def putconn(self, conn: psycopg.Connection) -> None:
        """Return a connection to the pool (broken ones are discarded by the pool)."""
        tracker = conn.__dict__.pop("_tddkit_borrowed", None)
        if tracker is not None:
            tracker.out.pop(id(conn), None)
        if self.pool is None:  # the server is gone and the pool with it
            conn.close()
            return
        self.pool.putconn(conn)

    def track_borrowed(self) -> Borrowed:
        """Record every connection this thread borrows from now on, until ``Borrowed.reclaim()``."""
        tracker = self._tracking.current = Borrowed(self)
        return tracker

    def stop_tracking(self, tracker: Borrowed) -> None:
        """Stop recording borrowed connections in ``tracker``."""
        if getattr(self._tracking, "current", None) is tracker:
            self._tracking.current = None

    def recycle(self, conn: GuardedConnection) -> None:
        """Return a connection a test borrowed after undoing what it left behind, or discard it.

        Rolls back, then ``DISCARD ALL`` (temp tables, session advisory locks,
        cursors, prepared statements, settings); a connection that is lost or
        busy with an unfinished COPY is closed and the pool replaces it.
        """
        conn.guard(False)
        try:
            if conn.busy:
                conn.close()
            if not conn.closed:
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    conn.rollback()
                conn.autocommit = True
                psycopg.Cursor(conn).execute(b"DISCARD ALL", prepare=False)
                conn.autocommit = False
                conn.__dict__.pop("_tddkit_temp_tables", None)  # the SchemaCache's tables went with DISCARD
        except psycopg.Error:
            conn.close()
        self.putconn(conn)

    def check_server(self) -> None:
        """Raise ServerError if the server is gone (stopped or crashed); once gone, always raise at once."""
        reason = self.gone_reason()
        if reason is not None:
            raise ServerError(reason)

    def gone_reason(self) -> Optional[str]:
        """Why the server cannot be used any more, or None while it can (asked after a connection broke)."""
        if self.gone is None:
            why = self.server_exit() if self.server_exit is not None else None
            if why is None:
                why = self._unreachable()
            if why is None:
                return None
            self.gone = (
                f"the PostgreSQL server is gone ({why}): it stopped or crashed during the run, so this test "
                "and the ones after it cannot run; look for the cause (out of memory, a server crash, "
                "someone stopping it) and run again"
            )
            pool, self.pool = self.pool, None
            if pool is not None:  # stop its attempts to reconnect
                pool.close(timeout=1.0)
        return self.gone

    def _unreachable(self) -> Optional[str]:
        """None if the server is there (it accepts connections, or answers with a refusal such as
        "too many clients"; a crash recovery is waited out), else why it is not."""
        deadline = time.monotonic() + SERVER_RECOVERY_WAIT
        while True:
            try:
                psycopg.connect(self.server_dsn, connect_timeout=5).close()
                return None
            except psycopg.OperationalError as exc:
                reason = " ".join(str(exc).split())
            if "recovery mode" in reason or "starting up" in reason:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
            elif "FATAL:" in reason and "shutting down" not in reason:
                return None  # the server answered: it is alive, only this connection was refused
            return f"cannot connect to {redact(self.server_dsn)}: {reason}"

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
        drop_database(admin, self.name)
