"""Process identities that outlive their process, and proving that the process one names is gone, or runs.

A database records the identity of the process that made it; a later run
may drop it only once that process has certainly ended. The state file of
``server start`` records its server's, which is stopped or used only while
that very process runs. An identity is the machine's boot and pid
namespace, the pid and the process's start time: a pid alone is reused,
and pids of another machine, boot or container say nothing here, so those
are never judged.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

from .processes import pid_alive


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot on Linux), or None if there is no such process."""
    if sys.platform.startswith("linux"):
        stat = _read(f"/proc/{pid}/stat")
        return stat.rsplit(")", 1)[-1].split()[19] if stat else None
    import psutil

    try:
        return repr(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


@functools.cache
def _this_boot() -> str:
    """This machine's current boot and pid namespace, where a pid and start time name one process; "" if
    unknown."""
    if sys.platform.startswith("linux"):
        boot = _read("/proc/sys/kernel/random/boot_id")
        with contextlib.suppress(OSError):
            return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}" if boot else ""
        return ""
    import socket

    import psutil

    return f"{socket.gethostname()}/{psutil.boot_time():.0f}"


def process_identity(pid: int | None = None) -> str:
    """``pid`` (default: this process) as ``boot/pidns pid start``."""
    pid = os.getpid() if pid is None else pid
    return f"{_this_boot() or '-'} {pid} {_start_time(pid)}"


def _of_this_boot(identity: str) -> tuple[int, str] | None:
    """The pid and start time ``identity`` names, if it was taken in this boot and pid namespace; else None."""
    parts = identity.split()
    if len(parts) != 3 or not parts[1].isdigit() or not _this_boot() or parts[0] != _this_boot():
        return None
    return int(parts[1]), parts[2]


def process_gone(identity: str) -> bool:
    """True only when ``identity`` names a process that has certainly ended: same boot and pid namespace
    as this process, and its pid is free or now another process's. False whenever that cannot be proved."""
    named = _of_this_boot(identity)
    if named is None:
        return False
    pid, started = named
    if not pid_alive(pid):
        return True
    now = _start_time(pid)
    return now is not None and now != started


def process_running(identity: str) -> bool:
    """True only when ``identity`` names a process that still runs: same boot and pid namespace as this
    process, and its pid alive with the same start time (not another process that got the pid later)."""
    named = _of_this_boot(identity)
    return named is not None and pid_alive(named[0]) and _start_time(named[0]) == named[1]
