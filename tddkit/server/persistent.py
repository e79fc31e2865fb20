"""The server kept running across runs (``python -m tddkit server start|stop|status|url``) and its state file.

The state file (``server.json`` in the cache directory, mode 0600) records the
running server: its socket DSN, which runs that find it use instead of
starting a server of their own, and its TCP URL with the server's password,
for other tools (``server url``). Starting and stopping hold an exclusive lock (a lock file beside the state
file, which is itself replaced atomically), so of two ``server start`` at
once exactly one starts a server and the other reports it.

A record is trusted only while it provably names its server: the data
directory's postmaster.pid names the recorded pid, and that pid is still the
process started then (same boot, same start time; see ``liveness``). After
a ``kill -9`` or a reboot the pid may be another process's: the record is
then forgotten with one line and nothing is signalled.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import ServerError
from ..output import write_json
from .account import Account
from .binaries import PgBinaries
from .cache import say
from .embedded import RUN_PREFIX, EmbeddedPostgres
from .liveness import process_gone, process_identity, process_running
from .locations import CACHE_SETTING, cache_dir_problem, default_cache_dir
from .postmaster import PIDFILE, free_crash_memory, read_status
from .processes import file_lock, pid_alive, stop_process

State = dict[str, Any]


def state_file(cache_dir: Path | None = None) -> Path:
    """Where the running server is recorded."""
    return Path(cache_dir or default_cache_dir()) / "server.json"


def _lock_file(cache_dir: Path | None) -> Path:
    return state_file(cache_dir).with_name(".server.json.lock")


def _load(cache_dir: Path | None) -> State | None:
    try:
        state = json.loads(state_file(cache_dir).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _stale(state: State) -> str | None:
    """Why ``state`` no longer names a running server; None when it provably does: its data directory's
    postmaster.pid names its pid, and that pid is still the process started then (its recorded identity)."""
    pid, run_dir, identity = state.get("pid"), state.get("run_dir"), state.get("identity")
    if not (isinstance(pid, int) and isinstance(run_dir, str) and isinstance(identity, str)):
        return "the record does not say which process it is"
    if not (Path(run_dir) / "data").is_dir():
        return "its data directory is gone"
    if not pid_alive(pid):
        return "its process has ended"
    status = read_status(Path(run_dir) / "data")
    if status is None or status.pid != pid or process_identity(pid) != identity or not process_running(identity):
        return f"pid {pid} is now another process"
    return None


def _forget(state: State, reason: str, cache_dir: Path | None) -> None:
    """Remove a stale record, signalling nothing; once its server has certainly ended, also free the memory
    it left and remove its run directory."""
    with contextlib.suppress(OSError):
        state_file(cache_dir).unlink()
    run_dir, identity, bindir = state.get("run_dir"), state.get("identity"), state.get("bindir")
    if isinstance(run_dir, str) and Path(run_dir).name.startswith(RUN_PREFIX) and isinstance(identity, str) \
            and process_gone(identity):
        pidfile = Path(run_dir) / "data" / PIDFILE
        if pidfile.exists() and isinstance(bindir, str):
            with contextlib.suppress(OSError):
                pidfile.unlink()  # it may name the pid's new process, and postgres would refuse to start
            free_crash_memory(Account.for_server(), str(Path(bindir) / "postgres"), pidfile.parent)
        shutil.rmtree(run_dir, ignore_errors=True)
    say(f"the recorded server (pid {state.get('pid')}) is gone ({reason}): forgetting it")


def _current(cache_dir: Path | None) -> State | None:
    """The recorded server if it provably runs; a stale record is forgotten. Call with the lock held."""
    state = _load(cache_dir)
    reason = _stale(state) if state is not None else None
    if state is None or reason is None:
        return state
    _forget(state, reason, cache_dir)
    return None


def read_state(cache_dir: Path | None = None) -> State | None:
    """The running persistent server's state, or None (a stale record is forgotten, with one line)."""
    state = _load(cache_dir)
    if state is None or _stale(state) is None:
        return state
    with file_lock(_lock_file(cache_dir)):  # never remove a record another process just wrote
        return _current(cache_dir)


def _stop(state: State) -> None:
    stop_process(int(state["pid"]))
    shutil.rmtree(state["run_dir"], ignore_errors=True)


def start_persistent(binaries: PgBinaries, cache_dir: Path | None = None) -> State:
    """Start a server that outlives this process and record it; the running one's state if there is one."""
    root = state_file(cache_dir).parent
    problem = cache_dir_problem(root, Account.for_server())
    if problem:
        raise ServerError(f"the cache directory {root} {problem}: 'server start' keeps its state there; "
                          f"set {CACHE_SETTING} to a usable directory")
    with file_lock(_lock_file(cache_dir)):
        existing = _current(cache_dir)
        if existing:
            return existing
        server = EmbeddedPostgres(binaries, cache_dir, persistent=True, tcp=True).start()
        assert server.process is not None  # start() spawned it
        pid = server.process.pid
        state = {"pid": pid, "identity": process_identity(pid), "port": server.port, "run_dir": str(server.run_dir),
                 "dsn": server.dsn, "url": server.url, "version": server.binaries.version,
                 "bindir": str(server.binaries.bindir), "source": server.binaries.source}
        try:
            write_json(state_file(cache_dir), state, mode=0o600)
        except BaseException:
            _stop(state)  # a server nobody can find must not keep running
            raise
        return state


def stop_persistent(cache_dir: Path | None = None) -> bool:
    """Stop the persistent server; False when none was running."""
    if not state_file(cache_dir).parent.is_dir():
        return False
    with file_lock(_lock_file(cache_dir)):
        state = _current(cache_dir)
        if not state:
            return False
        _stop(state)
        with contextlib.suppress(OSError):
            state_file(cache_dir).unlink()
        return True
