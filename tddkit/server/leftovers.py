"""Work directories named after the process that made them, and reclaiming those whose process is gone.

A run killed by SIGKILL cannot clean up: its run directory (in /dev/shm,
holding memory), a half-saved snapshot or a half-made initdb cluster stay
behind. Each such directory is made by :func:`owned_tempdir`, whose name
carries the maker's pid and host (``tddkit-pg-1234@host-k2j4x9``); a later
run removes it only when that host is this one and that pid is gone, so a
directory is never taken from a process that still runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from .processes import pid_alive


def _host() -> str:
    return socket.gethostname().replace("/", "_") or "localhost"


def owned_tempdir(prefix: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """``tempfile.mkdtemp`` whose name says which process on which host made it."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}@{_host()}-", dir=directory))


def owner(path: Path, prefix: str) -> tuple[int, str] | None:
    """The (pid, host) an :func:`owned_tempdir` name records, or None for any other name."""
    rest = path.name[len(prefix):] if path.name.startswith(prefix) else ""
    pid, at, tail = rest.partition("@")
    host, dash, _ = tail.rpartition("-")
    if not (at and dash and pid.isdigit() and host):
        return None
    return int(pid), host


def left_by_dead_process(path: Path, prefix: str) -> bool:
    """True when ``path`` was made by :func:`owned_tempdir` of a process of this host that is gone."""
    found = owner(path, prefix)
    return found is not None and found[1] == _host() and not pid_alive(found[0])


def reclaim(directory: Path, *prefixes: str, in_use: Callable[[Path], bool] | None = None) -> list[Path]:
    """Remove the directories named ``prefix...`` in ``directory`` that dead processes left; what was removed.

    ``in_use`` keeps a directory that something still uses although its maker
    is gone (a persistent server's run directory outlives ``server start``).
    """
    removed: list[Path] = []
    try:
        entries = [entry for entry in os.scandir(directory) if entry.name.startswith(prefixes)]
    except OSError:
        return removed
    for entry in entries:
        path = Path(entry.path)
        prefix = next(p for p in prefixes if entry.name.startswith(p))
        if left_by_dead_process(path, prefix) and not (in_use and in_use(path)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
