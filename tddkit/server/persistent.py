"""The server kept running across runs (``python -m tddkit server start|stop|status|url``) and its state file.

The state file (``server.json`` in the cache directory, mode 0600) records the
running server: its socket DSN, which runs that find it use instead of
starting a server of their own, and its TCP URL with the server's password,
for other tools (``server url``). Starting and stopping hold an exclusive lock (a lock file beside the state
file, which is itself replaced atomically), so of two ``server start`` at
once exactly one starts a server and the other reports it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

from ..binaries import PgBinaries
from ..errors import ServerError
from ..output import write_json
from ..processes import file_lock, pid_alive, stop_process
from .account import Account
from .embedded import EmbeddedPostgres
from .locations import CACHE_SETTING, cache_dir_problem, default_cache_dir

State = Dict[str, Any]


def state_file(cache_dir: Optional[Path] = None) -> Path:
    """Where the running server is recorded."""
    return Path(cache_dir or default_cache_dir()) / "server.json"


def _lock_file(cache_dir: Optional[Path]) -> Path:
    return state_file(cache_dir).with_name(".server.json.lock")


def _load(cache_dir: Optional[Path]) -> Optional[State]:
    try:
        state = json.loads(state_file(cache_dir).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _alive(state: State) -> bool:
    try:
        return pid_alive(int(state.get("pid", 0)))
    except (TypeError, ValueError):
        return False


def _current(cache_dir: Optional[Path]) -> Optional[State]:
    """The recorded server if it runs; a stale state file is removed. Call with the lock held."""
    state = _load(cache_dir)
    if state is None or _alive(state):
        return state
    with contextlib.suppress(OSError):
        state_file(cache_dir).unlink()
    return None


def read_state(cache_dir: Optional[Path] = None) -> Optional[State]:
    """The running persistent server's state, or None (stale state files are removed)."""
    state = _load(cache_dir)
    if state is None or _alive(state):
        return state
    with file_lock(_lock_file(cache_dir)):  # never remove a record another process just wrote
        return _current(cache_dir)


def _stop(state: State) -> None:
    stop_process(int(state["pid"]))
    shutil.rmtree(state["run_dir"], ignore_errors=True)


def start_persistent(binaries: PgBinaries, cache_dir: Optional[Path] = None) -> State:
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
        state = {"pid": server.process.pid, "port": server.port, "run_dir": str(server.run_dir),  # type: ignore[union-attr]
                 "dsn": server.dsn, "url": server.url, "version": server.binaries.version,
                 "bindir": str(server.binaries.bindir), "source": server.binaries.source}
        try:
            write_json(state_file(cache_dir), state, mode=0o600)
        except BaseException:
            _stop(state)  # a server nobody can find must not keep running
            raise
        return state


def stop_persistent(cache_dir: Optional[Path] = None) -> bool:
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
