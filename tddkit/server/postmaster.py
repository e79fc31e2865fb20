"""What a server says about itself: ``postmaster.pid`` (pid, port, ready or not) and its log (why it failed);
freeing what a killed one left.

PostgreSQL (10 and newer) keeps this file in the data directory while it
runs; its eighth line is the postmaster's status, ``starting`` until it
accepts connections, then ``ready`` (what ``pg_ctl -w`` waits for). Reading
it needs no client library and no connection attempt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
from pathlib import Path

from .account import Account
from .processes import pid_alive

PIDFILE = "postmaster.pid"


@dataclasses.dataclass(frozen=True)
class PostmasterStatus:
    """The lines of postmaster.pid tddkit uses."""

    pid: int
    port: int
    socket_dir: str
    status: str


def read_status(data_dir: Path) -> PostmasterStatus | None:
    """The server's postmaster.pid, or None while it is missing or not fully written."""
    try:
        lines = (data_dir / PIDFILE).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit() or not lines[3].strip().isdigit():
        return None
    return PostmasterStatus(int(lines[0]), int(lines[3]), lines[4].strip(), lines[7].strip())


def is_ready(data_dir: Path, pid: int) -> bool:
    """Whether postmaster ``pid`` says it accepts connections (a stale file of another pid does not count)."""
    status = read_status(data_dir)
    return status is not None and status.pid == pid and status.status == "ready"


def runs_a_server(run_dir: Path) -> bool:
    """Whether a postmaster still runs on ``run_dir``'s data directory (a persistent server's, say)."""
    try:
        first = (run_dir / "data" / PIDFILE).read_text().split("\n", 1)[0].strip()
    except (OSError, UnicodeDecodeError):
        return False
    return first.isdigit() and pid_alive(int(first))


def free_crash_memory(account: Account, postgres: str, data_dir: Path) -> None:
    """Free the shared memory a killed postmaster of ``data_dir`` left, before the directory is deleted.

    It leaves its System V segment and dynamic shared memory in /dev/shm;
    PostgreSQL removes both when it next starts on the same data directory,
    so start it once in single-user mode (which exits at once with no input).
    """
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        account.run([postgres, "--single", "-D", str(data_dir), "postgres"], stdin=subprocess.DEVNULL,
                    cwd=str(data_dir.parent), timeout=60)


def log_tail(log: Path, lines: int = 20) -> str:
    """The last lines of a server log, for error messages."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def last_error(log: Path, start: int = 0) -> str:
    """The last PANIC or FATAL line logged from byte ``start`` on, without its prefix ("" if none)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(start)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    for line in reversed(text.splitlines()):
        for level in ("PANIC:", "FATAL:"):
            if level in line:
                return f"{level} {line.split(level, 1)[1].strip()}"
    return ""
