"""EmbeddedPostgres: one throwaway PostgreSQL server tuned for tests, started from a cached cluster.

Each start copies the cached cluster (or a schema snapshot) into a fresh
run directory and starts ``postgres`` there with durability turned off. When
tddkit runs as root the server runs as an unprivileged account, since
PostgreSQL refuses to run as root. The server is stopped on normal exit, on
exceptions, SIGINT, SIGTERM and SIGHUP; if the starting process dies (even by
SIGKILL) the server gets SIGQUIT and stops too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

import psycopg

from ..binaries import PgBinaries
from ..errors import ServerError
from ..processes import Watchdog, describe_exit, popen_tied, stop_process
from . import cleanup
from .access import SOCKET_ONLY_SETTINGS, SUPERUSER, TCP_SETTINGS, new_password, set_password, write_hba
from .account import Account
from .cache import ServerCache, copy_tree, default_run_base

#: Server settings for tests: durability off, nothing that adds latency.
TEST_SERVER_SETTINGS: Dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "jit": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "max_prepared_transactions": "20",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "autovacuum": "off",
    "min_wal_size": "2MB",  # with 1 MB WAL segments (see INITDB_OPTIONS): small clusters copy fast
}


#: The port of a server that listens on its unix socket only: it just names the socket file
#: (``.s.PGSQL.5432``) in the server's own run directory, so every server can use it.
SOCKET_ONLY_PORT = 5432


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """One running throwaway server; use ``start()``/``stop()`` or a ``with`` block.

    It listens on its unix socket only, in a run directory only the runner and
    the server's account can enter. With ``tcp`` it also listens on 127.0.0.1
    and asks TCP clients for a random password made for this server (in
    ``url``). A ``persistent`` server outlives this process (``python -m
    tddkit server start``): it is neither stopped at exit nor tied to this
    process's life, and ``stop()`` leaves its run directory.
    """

    def __init__(
        self,
        binaries: PgBinaries,
        cache_dir: Optional[Path] = None,
        *,
        persistent: bool = False,
        run_dir: Optional[Path] = None,
        tcp: bool = False,
    ) -> None:
        self.account = Account.for_server()
        self.cache = ServerCache(binaries, self.account, cache_dir)
        self.binaries = binaries
        self.persistent = persistent
        self.run_dir: Optional[Path] = run_dir
        self.port: Optional[int] = None
        self.process: Optional[subprocess.Popen] = None
        self._watchdog: Optional[Watchdog] = None
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()
        self.from_snapshot = False
        self.tcp = tcp
        self.password = new_password() if tcp else None

    @property
    def data_dir(self) -> Path:
        if self.run_dir is None:
            raise ServerError("the embedded server has no run directory: start() it first")
        return self.run_dir / "data"

    @property
    def dsn(self) -> str:
        """libpq DSN reaching the server over its unix socket."""
        return f"host={self.run_dir} port={self.port} user={SUPERUSER} dbname=postgres"

    @property
    def url(self) -> Optional[str]:
        """URL reaching the server over TCP on loopback, with its password; None when it has no TCP."""
        if not self.tcp:
            return None
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self, attempts: int = 3, snapshot: Optional[str] = None) -> "EmbeddedPostgres":
        """Copy the cached cluster (or the schema snapshot ``snapshot``), start postgres, wait for it."""
        with self._lock:
            if self.process is not None:
                return self
            self.binaries = self.cache.prepare()
            cluster = self.cache.snapshot(snapshot) if snapshot else None
            self.from_snapshot = bool(cluster and (cluster / "PG_VERSION").exists())
            if not self.from_snapshot:
                cluster = self.cache.cluster(self.binaries)
            if not self.persistent:
                cleanup.register(self)
            self.run_dir = Path(tempfile.mkdtemp(prefix="tddkit-pg-", dir=default_run_base()))
            try:
                copy_tree(cluster, self.data_dir)  # type: ignore[arg-type]
                if self.tcp:
                    write_hba(self.data_dir, tcp=True)
                self.account.chown_tree(self.run_dir)
                for _ in range(attempts):
                    self.port = free_port() if self.tcp else SOCKET_ONLY_PORT
                    if self._launch():
                        if self.password is not None:
                            set_password(self.dsn, self.password)
                        return self
                raise ServerError(f"postgres could not start after {attempts} attempts:\n{self.log_tail()}")
            except BaseException:
                self.stop()
                raise

    def _launch(self) -> bool:
        """Start postgres once; False if the port was taken (caller retries)."""
        options = {**TEST_SERVER_SETTINGS, **(TCP_SETTINGS if self.tcp else SOCKET_ONLY_SETTINGS)}
        args = [self.binaries.path("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.run_dir)]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        with open(self.run_dir / "server.log", "ab") as log:  # type: ignore[operator]
            popen: Dict[str, Any] = dict(stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=str(self.run_dir), user=self.account.uid, group=self.account.gid,
                                         extra_groups=self.account.extra_groups, start_new_session=True)
            if self.persistent:
                self.process = subprocess.Popen(args, **popen)
            else:
                self.process, self._watchdog = popen_tied(args, **popen)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                self._dismiss_watchdog()
                if "could not bind" in self.log_tail() or "already in use" in self.log_tail():
                    return False
                raise ServerError(f"postgres exited while starting ({self.binaries.describe()}):\n{self.log_tail()}")
            try:
                psycopg.connect(self.dsn, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.01)
        raise ServerError(f"postgres did not accept connections within 60 s:\n{self.log_tail()}")

    def _dismiss_watchdog(self) -> None:
        """The server process is gone: its watchdog (if it has one) is no longer needed."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.close()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log, for error messages."""
        try:
            text = (self.run_dir / "server.log").read_text(errors="replace")  # type: ignore[operator]
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def exit_reason(self) -> Optional[str]:
        """Why the server stopped on its own ("... was killed by SIGKILL"); None while it runs or after stop()."""
        process = self.process
        if process is None or process.poll() is None:
            return None
        return f"embedded PostgreSQL, pid {process.pid}, {describe_exit(process.returncode)}"

    def stop(self, save_snapshot: Optional[str] = None) -> None:
        """Fast shutdown, then remove the run directory. Safe to call twice.

        With ``save_snapshot``, a cleanly stopped cluster is kept in the cache
        under that key for later runs with the same schema.
        """
        if os.getpid() != self._owner_pid:
            return  # a forked child never stops its parent's server
        process, self.process = self.process, None
        if process is not None:
            stop_process(process.pid, process.wait)
            self._dismiss_watchdog()
            if process.returncode != 0 and self.run_dir is not None:
                self._release_crash_leftovers()
            elif save_snapshot and self.run_dir is not None:
                with contextlib.suppress(OSError):
                    self.cache.save_snapshot(self.data_dir, save_snapshot)
        if self.run_dir is not None and not self.persistent:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        cleanup.unregister(self)

    def _release_crash_leftovers(self) -> None:
        """After the server crashed or was killed, free the shared memory it left behind.

        A killed postmaster leaves its System V segment and dynamic shared
        memory in /dev/shm; PostgreSQL removes both when it next starts on the
        same data directory, so start it once in single-user mode (which
        exits at once with no input) before the directory is deleted.
        """
        if not (self.data_dir / "postmaster.pid").exists():
            return
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.account.run([self.binaries.path("postgres"), "--single", "-D", str(self.data_dir), "postgres"],
                             stdin=subprocess.DEVNULL, cwd=str(self.run_dir), timeout=60)

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
