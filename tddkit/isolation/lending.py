"""Lender: hands out the test database's pooled connections, and takes back what a test kept.

While a test runs (``track_borrowed``), every connection its thread borrows
is recorded; what the test did not give back is rolled back, reset and
returned after it. A server that went away is reported as ServerError by
every request instead of a pool timeout each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from ..config.settings import Settings
from ..errors import PoolExhaustedError, ServerError
from .client_state import ClientState
from .connection import GuardedConnection


class PooledDatabase(Protocol):
    """The test database whose pool the Lender lends from (``session.database.TestDatabase``)."""

    settings: Settings
    pool: ConnectionPool[Any] | None
    #: Its template holds the leak check's triggers: the server does not track commit timestamps (see ``leaks``).
    leak_triggers: bool

    @property
    def dsn(self) -> str: ...

    def recreate(self) -> None: ...

    def close_pool(self, timeout: float = ...) -> None: ...


class Probe(Protocol):
    """Tells whether the server went away (``session.probe.ServerProbe``)."""

    gone: str | None
    on_gone: list[Callable[[], None]]

    def check(self) -> None: ...

    def gone_reason(self) -> str | None: ...


class Borrowed:
    """Connections lent while this tracker was active, so a test's leftovers can be returned."""

    def __init__(self, lender: Lender) -> None:
        self.lender = lender
        self.out: dict[int, GuardedConnection] = {}

    def reclaim(self) -> int:
        """Stop tracking; reset and return every connection still out; return how many there were."""
        tracking = self.lender._tracking
        if getattr(tracking, "current", None) is self:
            tracking.current = None
        if not self.out:  # the common case: the test returned what it borrowed, or borrowed nothing
            return 0
        leftovers, self.out = list(self.out.values()), {}
        for conn in leftovers:
            self.lender.recycle(conn)
        return len(leftovers)


class Lender:
    """Lends pooled connections of one TestDatabase."""

    def __init__(self, database: PooledDatabase, probe: Probe) -> None:
        self.database = database
        self.probe = probe
        self._tracking = threading.local()
        self._owners: dict[int, Borrowed] = {}
        probe.on_gone.append(lambda: database.close_pool(timeout=1.0))  # stop its attempts to reconnect

    def getconn(self) -> GuardedConnection:
        """Borrow a pooled connection: PoolExhaustedError if none frees up in time, ServerError if the server is
        gone."""
        pool = self.database.pool
        if pool is None:
            raise ServerError(self.probe.gone or "the test database is closed")
        try:
            conn: GuardedConnection = pool.getconn()
        except PoolTimeout:
            self.probe.check()
            settings = self.database.settings
            size = pool.get_stats().get("pool_size", settings.pool_max_size)
            raise PoolExhaustedError(
                f"no database connection became free within pool_timeout={settings.pool_timeout} s: "
                f"all {size} of pool_max_size={settings.pool_max_size} are in use. Borrow fewer at once (tddkit "
                "takes back what a test still holds when it ends) or raise pool_max_size (TDDKIT_POOL_MAX_SIZE "
                "or [tool.tddkit] pool_max_size)"
            ) from None
        if conn._tddkit.client_state is None:
            conn._tddkit.client_state = ClientState(conn)
        tracker: Borrowed | None = getattr(self._tracking, "current", None)
        if tracker is not None:
            tracker.out[id(conn)] = conn
            self._owners[id(conn)] = tracker
        return conn

    def putconn(self, conn: GuardedConnection) -> None:
        """Return a connection to the pool, its Python-side state as it was first lent (broken ones are
        discarded by the pool)."""
        tracker = self._owners.pop(id(conn), None)
        if tracker is not None:
            tracker.out.pop(id(conn), None)
        if conn._tddkit.client_state is not None and not conn.closed:
            conn._tddkit.client_state.restore(conn)
        pool = self.database.pool
        if pool is None:  # the server is gone and the pool with it
            conn.close()
            return
        pool.putconn(conn)

    def reset_database(self) -> None:
        """Clone the test database again from its template (after a write escaped a test)."""
        self._owners.clear()
        self.database.recreate()

    def track_borrowed(self) -> Borrowed:
        """Record every connection this thread borrows from now on, until ``Borrowed.reclaim()``."""
        tracker = self._tracking.current = Borrowed(self)
        return tracker

    def recycle(self, conn: GuardedConnection) -> None:
        """Return a connection a test borrowed after undoing what it left behind, or discard it.

        Rolls back, then ``DISCARD ALL`` (temp tables, session advisory locks,
        cursors, prepared statements, settings); a connection that is lost or
        busy with an unfinished COPY is closed and the pool replaces it.
        """
        conn._tddkit.guard(False)
        try:
            if conn._tddkit.busy:
                conn.close()
            if not conn.closed:
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    conn.rollback()
                conn.autocommit = True
                conn._tddkit.run_internal(b"DISCARD ALL")
                conn.autocommit = False
                conn._tddkit.temp_tables = conn._tddkit.after_test = None  # DISCARD ALL took them
        except psycopg.Error:
            conn.close()
        self.putconn(conn)
