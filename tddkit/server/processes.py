"""Process handling: how a process ended, stopping one, whether one lives, inter-process locks, dying with us.

Nothing here knows about PostgreSQL or tests; the server package and the
parallel runner both use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def describe_exit(code: int | None) -> str:
    """A process's end in words: "was killed by SIGKILL", "exited with code 3"."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def stop_process(pid: int, wait: Callable[..., object] | None = None, *, immediate: bool = False) -> None:
    """Stop a postmaster: SIGINT (fast shutdown), then SIGQUIT, then SIGKILL.

    ``immediate`` starts at SIGQUIT (immediate shutdown: no checkpoint, for a
    data directory about to be deleted). ``wait`` is the ``Popen.wait`` of our
    own child (it reaps it); without it the pid is polled until it is gone.
    """
    def gone(timeout: float) -> bool:
        exited = _exit_within(pid, timeout)
        if exited is None:
            return _polled_exit(pid, wait, timeout)
        if exited and wait is not None:
            wait()  # reap our child: it has exited, so this returns at once
        return exited

    steps = ((signal.SIGINT, 15), (signal.SIGQUIT, 5), (signal.SIGKILL, 5))
    for sig, timeout in steps[1:] if immediate else steps:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if gone(timeout):
            return


def _polled_exit(pid: int, wait: Callable[..., object] | None, timeout: float) -> bool:
    """Whether process ``pid`` ends within ``timeout`` seconds, found by polling."""
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


def _exit_within(pid: int, timeout: float) -> bool | None:
    """Whether process ``pid`` ends within ``timeout`` seconds, told the moment it does (a pidfd); None where
    pidfds are not available (before Linux 5.3, other systems): then the caller polls."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:
        return None
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    if pid <= 0:
        return False  # 0 and negative numbers name process groups, never one process
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


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """An inter-process lock held while the block runs: exclusive, or ``shared`` with other shared holders.

    The lock belongs to an open file description: taking it twice in one
    process blocks, so never nest two ``file_lock`` on one path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- a child that gets a signal when this process dies ---------------------------------------

#: The watchdog: reads its stdin (a pipe only this process writes to) until EOF, which comes when
#: this process is gone (or closed the pipe), then signals the child through a pidfd (never another
#: process that got the pid later) or, where pidfds are missing, by pid.
_WATCHDOG = """\
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
while os.read(0, 512):
    pass
kind, number, sig = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    signal.pidfd_send_signal(number, sig) if kind == "pidfd" else os.kill(number, sig)
except OSError:
    pass
"""

#: Write ends of the watchdogs' pipes: a child made by fork() must not keep them open.
_watch_pipes: set[int] = set()


def _close_watch_pipes_in_child() -> None:
    for fd in list(_watch_pipes):
        with contextlib.suppress(OSError):
            os.close(fd)
    _watch_pipes.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_watch_pipes_in_child)


class Watchdog:
    """A small process that sends a signal to a child of ours once this process is gone."""

    def __init__(self, pid: int, sig: signal.Signals) -> None:
        read_end, self._write_end = os.pipe()
        kind, number = "pid", pid
        pass_fds: tuple[int, ...] = ()
        with contextlib.suppress(AttributeError, OSError):
            number = os.pidfd_open(pid)
            kind, pass_fds = "pidfd", (number,)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, kind, str(number), str(int(sig))],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=pass_fds,
                cwd="/", start_new_session=True,
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)
            if kind == "pidfd":
                os.close(number)
        _watch_pipes.add(self._write_end)

    def close(self) -> None:
        """Dismiss the watchdog (after the child was stopped: it may still signal the child as it goes)."""
        if self._write_end in _watch_pipes:
            _watch_pipes.discard(self._write_end)
            os.close(self._write_end)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@functools.cache
def _setpriv_with_pdeathsig() -> str | None:
    """util-linux ``setpriv`` if it is installed and knows ``--pdeathsig`` (2.33+), else None."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    try:
        usage = subprocess.run([setpriv, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return setpriv if "--pdeathsig" in usage else None


def popen_tied(args: list[str], *, sig: signal.Signals = signal.SIGQUIT,
               **popen_kwargs: Any) -> tuple[subprocess.Popen[bytes], Watchdog | None]:
    """``subprocess.Popen(args)``, and the child gets ``sig`` if this process dies (even by SIGKILL).

    On Linux, from the main thread, ``setpriv --pdeathsig`` asks the kernel for
    it and then execs the program (same pid, no extra process, nothing run
    between fork and exec). The kernel sends that signal when the *thread*
    that started the child ends, so from any other thread, or without
    setpriv, a :class:`Watchdog` does it instead; close it (the second value)
    once the child is stopped.
    """
    on_main_thread = threading.current_thread() is threading.main_thread()
    setpriv = _setpriv_with_pdeathsig() if sys.platform.startswith("linux") and on_main_thread else None
    if setpriv is not None:
        return subprocess.Popen([setpriv, "--pdeathsig", sig.name, "--", *args], **popen_kwargs), None
    process = subprocess.Popen(args, **popen_kwargs)
    try:
        return process, Watchdog(process.pid, sig)
    except OSError:
        return process, None  # no watchdog: the child just does not die with us


# --- a forked child that dies with its parent ------------------------------------------------

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, *, forked_on_main_thread: bool = True) -> None:
    """Make this forked process get SIGKILL as soon as its parent ``parent_pid`` is gone (even by SIGKILL).

    On Linux the kernel does it (``prctl(PR_SET_PDEATHSIG)``; it fires when
    the *thread* that forked us ends, so only for a fork from the main thread);
    elsewhere a daemon thread checks the parent twice a second.
    """
    if sys.platform.startswith("linux") and forked_on_main_thread:
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                if os.getppid() != parent_pid:  # it died before we asked
                    os.kill(os.getpid(), signal.SIGKILL)
                return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="tddkit-parent-watch", daemon=True).start()

