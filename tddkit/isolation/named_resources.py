"""Named resources: tests that share one never run at the same time.

``@tddkit.resources("name", ...)`` on a test method or class declares outside
resources a test uses (a file, a port, a sandbox). Before such a test runs,
tddkit takes one PostgreSQL advisory lock per name on a dedicated autocommit
connection to the server's maintenance database: a database every parallel
worker and every concurrent tddkit run on that server shares (the per-worker
test databases are not shared, and advisory locks are per database). A lock
dies with its holder's connection, so a crashed worker never leaves one behind.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import psycopg

from ..errors import ResourceTimeoutError

T = TypeVar("T")
_ATTRIBUTE = "tddkit_resources"
_NAME_LIMIT = 63  # PostgreSQL truncates application_name beyond this


def resources(*names: str) -> Callable[[T], T]:
    """Declare the named resources a test method or class uses."""
    if not names or not all(isinstance(n, str) and n for n in names):
        raise TypeError("@tddkit.resources takes one or more non-empty resource names")

    def mark(target: T) -> T:
        existing = getattr(target, _ATTRIBUTE, ()) if isinstance(target, type) else ()
        setattr(target, _ATTRIBUTE, tuple(sorted(set(existing) | set(names))))
        return target

    return mark


def resources_of(cls: type, method_name: str) -> tuple[str, ...]:
    """The resources a test declared, on its method (``method_name`` of ``cls``) and on its class."""
    on_method: tuple[str, ...] = getattr(getattr(cls, method_name, None), _ATTRIBUTE, ())
    on_class: tuple[str, ...] = getattr(cls, _ATTRIBUTE, ())
    if not (on_method and on_class):  # each is sorted already (``resources``); most tests declare none
        return on_method or on_class
    return tuple(sorted(set(on_method) | set(on_class)))


def lock_key(name: str) -> int:
    """The signed 64-bit advisory lock key of a resource name."""
    return int.from_bytes(hashlib.sha256(f"tddkit-resource:{name}".encode()).digest()[:8], "big", signed=True)


class ResourceLocks:
    """Advisory locks for named resources, on one dedicated connection per process."""

    def __init__(self, server_dsn: str, timeout: float, options: str = "") -> None:
        self.server_dsn = server_dsn
        #: Server options for the connection (``-c name=value ...``), e.g. with no statement_timeout.
        self.options = options
        self.timeout = timeout
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.server_dsn, autocommit=True, options=self.options)
            self._conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(self.timeout * 1000)}ms",))
        return self._conn

    def acquire(self, names: Iterable[str], holder: str) -> float:
        """Take every lock (in name order, so two tests never deadlock); return seconds waited."""
        started = time.perf_counter()
        with self._lock:
            conn = self._connection()
            conn.execute("SELECT set_config('application_name', %s, false)", (f"tddkit {holder}"[-_NAME_LIMIT:],))
            taken = []
            try:
                for name in sorted(set(names)):
                    try:
                        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(name),))
                    except psycopg.errors.LockNotAvailable:
                        raise ResourceTimeoutError(
                            f"resource {name!r} was still held after resource_timeout={self.timeout:g} s by "
                            f"{self._holder_of(name)}; that test may hang, or raise resource_timeout"
                        ) from None
                    taken.append(name)
            except BaseException:
                self._unlock(conn, taken)
                raise
        return time.perf_counter() - started

    def release(self, names: Iterable[str]) -> None:
        """Give the locks back."""
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                self._unlock(self._conn, sorted(set(names)))

    @staticmethod
    def _unlock(conn: psycopg.Connection, names: Iterable[str]) -> None:
        for name in names:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))

    def _holder_of(self, name: str) -> str:
        """Which test (by its lock connection's application_name) holds ``name``'s lock."""
        with psycopg.connect(self.server_dsn, autocommit=True) as conn:
            row = conn.execute(
                """SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                   WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ((%(k)s >> 32) & 4294967295)::oid
                     AND l.objid = (%(k)s & 4294967295)::oid""",
                {"k": lock_key(name)},
            ).fetchone()
        if row is None:
            return "another session (it has let go since)"
        pid, application = row
        return f"{application.replace('tddkit ', '', 1) or 'a session'} (backend pid {pid})"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
