"""EmbeddedPostgres: one throwaway PostgreSQL server tuned for tests, started from a cached cluster.

Each start copies the cached cluster (or a schema snapshot) into a fresh
run directory and starts ``postgres`` there with durability turned off. When
tddkit runs as root the server runs as an unprivileged account, since
PostgreSQL refuses to run as root. The server is stopped on normal exit, on
exceptions, SIGINT, SIGTERM and SIGHUP; if the starting process dies (even by
SIGKILL) the server gets SIGQUIT and stops too. Starting is two steps that
``start()`` runs together: ``launch()`` (copy, spawn, return at once) and
``wait_ready()``; a cache entry that fails to start or to connect is
discarded and rebuilt once on the way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ServerError
from . import cleanup
from .access import SUPERUSER, new_password, set_password, write_hba
from .account import Account
from .binaries import PgBinaries
from .cache import CacheEntry, ServerCache
from .leftovers import owned_tempdir, reclaim
from .locations import default_run_base
from .postmaster import PIDFILE, free_crash_memory, is_ready, last_error, log_tail, runs_a_server
from .processes import Watchdog, describe_exit, pid_alive, popen_tied, stop_process
from .settings import postgres_args, server_port

#: Run directories are named ``tddkit-pg-<pid>@<host>-XXXX`` (see leftovers.py).
RUN_PREFIX = "tddkit-pg-"

#: What wait_ready() found when postgres could not bind its TCP port (another try, another port).
_PORT_TAKEN = "port taken"
#: How wait_ready() says the first connection failed.
_REFUSED = "postgres started but refused connections to"


class EmbeddedPostgres:
    """One running throwaway server; use ``start()``/``stop()`` or a ``with`` block.

    It listens on its unix socket only, in a run directory only the runner and
    the server's account can enter. With ``tcp`` it also listens on 127.0.0.1
    and asks TCP clients for a random password made for this server (in
    ``url``). A ``persistent`` server outlives this process (``python -m
    tddkit server start``): it is neither stopped at exit nor tied to this
    process's life, and ``stop()`` leaves its run directory.
    """

    def __init__(self, binaries: PgBinaries, cache_dir: Path | None = None, *,
                 persistent: bool = False, tcp: bool = False) -> None:
        self.account = Account.for_server()
        self.cache = ServerCache(binaries, self.account, cache_dir, may_fall_back=not persistent)
        self.binaries = binaries
        self.persistent = persistent
        self.run_dir: Path | None = None
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._watchdog: Watchdog | None = None
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()
        self.from_snapshot = False
        self.tcp = tcp
        self.password = new_password() if tcp else None
        self._snapshot: str | None = None
        self._entry: CacheEntry | None = None
        self._ready = False
        self._log_start = 0

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
    def url(self) -> str | None:
        """URL reaching the server over TCP on loopback, with its password; None when it has no TCP."""
        if not self.tcp:
            return None
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self, attempts: int = 3, snapshot: str | None = None) -> EmbeddedPostgres:
        """Copy the cached cluster (or the schema snapshot ``snapshot``), start postgres, wait for it."""
        return self.launch(snapshot=snapshot).wait_ready(attempts=attempts)

    def launch(self, snapshot: str | None = None) -> EmbeddedPostgres:
        """Copy the cached cluster (or the snapshot holding template database ``snapshot``) into a fresh run
        directory and spawn postgres; return without waiting for it (see ``wait_ready``). No psycopg needed."""
        with self._lock:
            if self.run_dir is not None:
                return self
            if not self.persistent:
                cleanup.register(self)
            try:
                self.binaries = self.cache.prepare()
                self._snapshot = snapshot
                self.run_dir = owned_tempdir(RUN_PREFIX, default_run_base())
                self._copy_and_spawn()
                # while postgres starts: what killed runs left (only theirs: their process is gone)
                reclaim(self.run_dir.parent, RUN_PREFIX, in_use=runs_a_server)
                self.cache.reclaim_leftovers()
            except BaseException:
                self.stop()
                raise
        return self

    def _copy_and_spawn(self) -> None:
        self._entry = self.cache.copy_into(self.data_dir, self.binaries, self._snapshot)
        self.from_snapshot = self._entry.kind == "snapshot"
        if self.tcp:
            write_hba(self.data_dir, tcp=True)
        run_dir = self.data_dir.parent
        if self._entry.owners_kept and os.stat(self.data_dir).st_uid == (self.account.uid or os.geteuid()):
            if self.account.uid is not None and self.account.gid is not None:
                os.chown(run_dir, self.account.uid, self.account.gid)
        else:
            self.account.chown_tree(run_dir)
        self._spawn()

    def _spawn(self) -> None:
        run_dir = self.data_dir.parent
        port = self.port = server_port(self.tcp)
        args = postgres_args(self.binaries, self.data_dir, run_dir, port, self.tcp)
        with open(run_dir / "server.log", "ab") as log:
            self._log_start = log.tell()  # what this attempt logs starts here
            popen: dict[str, Any] = dict(
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(run_dir),
                user=self.account.uid, group=self.account.gid, extra_groups=self.account.extra_groups,
                start_new_session=True)
            if self.persistent:
                self.process = subprocess.Popen(args, **popen)
            else:
                self.process, self._watchdog = popen_tied(args, **popen)

    def wait_ready(self, timeout: float = 60.0, attempts: int = 3, check: bool = True) -> EmbeddedPostgres:
        """Block until the launched server accepts connections; return it.

        Readiness is read from postmaster.pid. With ``check`` (needs psycopg),
        one connection to the database the cluster is for (the snapshot's
        template, else ``postgres``) proves it works. A cached snapshot or
        cluster that fails to start or to connect is discarded and this server
        started again from the next one down (snapshot, cluster, a new
        initdb), once each, with one line saying so.
        """
        with self._lock:
            if self._ready:
                return self
            if self.run_dir is None:
                raise ServerError("the embedded server was not launched: call launch() first")
            try:
                self._wait_until_usable(timeout, attempts, check)
            except BaseException:
                self.stop()
                raise
        return self

    def _wait_until_usable(self, timeout: float, attempts: int, check: bool) -> None:
        discarded = set()
        tries = 1
        while True:
            failure = self._wait_for_postmaster(timeout)
            if failure is None and check:
                failure = self._connect_once()
            if failure is None:
                break
            if failure == _PORT_TAKEN:
                if tries >= attempts:
                    raise ServerError(f"postgres could not start after {attempts} attempts:\n{self.log_tail()}")
                tries += 1
                self._spawn()
                continue
            entry, reason = self._entry, last_error(self.data_dir.parent / "server.log", self._log_start)
            refused = failure.startswith(_REFUSED)
            if entry is None or entry.kind in discarded or not (reason or refused):
                # not the cache's fault (postgres could not run at all, say): keep the entry
                raise ServerError(f"{failure} ({self.binaries.describe()}):\n{self.log_tail()}")
            self._halt()
            self.cache.discard(entry, reason or failure)
            discarded.add(entry.kind)
            if entry.kind == "snapshot":
                self._snapshot = None
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._copy_and_spawn()
        if self.password is not None:
            set_password(self.dsn, self.password)
        self._ready = True

    def _wait_for_postmaster(self, timeout: float) -> str | None:
        """None once postmaster.pid says ready; else why not."""
        process = self.process
        assert process is not None
        deadline = time.monotonic() + timeout
        pause = 0.001
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.process = None
                self._dismiss_watchdog()
                tail = self.log_tail()
                if self.tcp and ("could not bind" in tail or "already in use" in tail):
                    return _PORT_TAKEN
                return "postgres exited while starting"
            if is_ready(self.data_dir, process.pid):
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.01)
        raise ServerError(f"postgres did not accept connections within {timeout:g} s:\n{self.log_tail()}")

    def _connect_once(self) -> str | None:
        """None when one connection to the cluster's own database works; else why not."""
        import psycopg
        from psycopg.conninfo import make_conninfo

        database = self._snapshot if self.from_snapshot else "postgres"
        try:
            with psycopg.connect(make_conninfo(self.dsn, dbname=database), connect_timeout=10) as conn:
                backend = conn.info.backend_pid
        except psycopg.OperationalError as exc:
            return f"{_REFUSED} {database!r}: {' '.join(str(exc).split())}"
        # CREATE DATABASE ... TEMPLATE waits 100 ms while any session is on the template: wait for ours to end
        deadline = time.monotonic() + 2
        while pid_alive(backend) and time.monotonic() < deadline:
            time.sleep(0.0005)
        return None

    def _halt(self) -> None:
        """Stop a server that failed its start (immediate shutdown: its data is thrown away)."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process.pid, process.wait, immediate=True)
        self._dismiss_watchdog()

    def _dismiss_watchdog(self) -> None:
        """The server process is gone: its watchdog (if it has one) is no longer needed."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.close()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log, for error messages."""
        return log_tail(self.run_dir / "server.log", lines) if self.run_dir is not None else ""

    def exit_reason(self) -> str | None:
        """Why the server stopped on its own ("... was killed by SIGKILL"); None while it runs or after stop()."""
        process = self.process
        if process is None or process.poll() is None:
            return None
        return f"embedded PostgreSQL, pid {process.pid}, {describe_exit(process.returncode)}"

    def stop(self, save_snapshot: str | None = None, project: str = "", cap_mb: float | None = None) -> None:
        """Stop the server, then remove the run directory. Safe to call twice.

        With ``save_snapshot``, a cluster stopped by a fast shutdown (which
        checkpoints) is kept in the cache under that key for later runs with
        the same schema (of ``project``; the cache's snapshots are pruned to
        fit in ``cap_mb``). Without, the cluster is about to be deleted, so an
        immediate shutdown (no checkpoint) does: it takes about half the time.
        """
        if os.getpid() != self._owner_pid:
            return  # a forked child never stops its parent's server
        process, self.process = self.process, None
        if process is not None:
            stop_process(process.pid, process.wait, immediate=not save_snapshot and not self.persistent)
            self._dismiss_watchdog()
            if process.returncode != 0 and self.run_dir is not None:
                self._release_crash_leftovers()
            elif save_snapshot and self.run_dir is not None:
                with contextlib.suppress(OSError):
                    self.cache.save_snapshot(self.data_dir, save_snapshot, project, cap_mb)
        if self.run_dir is not None and not self.persistent:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
            self.cache.remove()
        self._ready = False
        cleanup.unregister(self)

    def _release_crash_leftovers(self) -> None:
        """After the server crashed or was killed, free the shared memory it left behind."""
        if (self.data_dir / PIDFILE).exists():
            free_crash_memory(self.account, self.binaries.path("postgres"), self.data_dir)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
