"""Named resources on one machine: a lock file per name, for tests whose servers are not shared.

When each process has a private embedded server (pytest-xdist workers, two
concurrent runs), advisory locks on one server cannot exclude tests on
another. The same names are then locked with ``flock`` on files in the cache
directory, which every process of the machine shares; a lock dies with its
process. The holder's test id is written into the file for the timeout
message.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import ResourceTimeoutError

POLL_SECONDS = 0.01


class FileResourceLocks:
    """The ResourceLocks interface (acquire / release / close) on lock files in ``directory``."""

    def __init__(self, directory: Path, timeout: float) -> None:
        self.directory = Path(directory)
        self.timeout = timeout
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.directory / f"{hashlib.sha256(name.encode()).hexdigest()[:24]}.lock"

    def acquire(self, names: Iterable[str], holder: str) -> float:
        """Take every lock (in name order, so two tests never deadlock); return seconds waited."""
        started = time.perf_counter()
        self.directory.mkdir(parents=True, exist_ok=True)
        taken = []
        try:
            for name in sorted(set(names)):
                self._take(name, holder, started)
                taken.append(name)
        except BaseException:
            self.release(taken)
            raise
        return time.perf_counter() - started

    def _take(self, name: str, holder: str, started: float) -> None:
        fd = os.open(self._path(name), os.O_RDWR | os.O_CREAT, 0o666)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.perf_counter() - started >= self.timeout:
                    held_by = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
                    os.close(fd)
                    raise ResourceTimeoutError(
                        f"resource {name!r} was still held after resource_timeout={self.timeout:g} s by "
                        f"{held_by}; that test may hang, or raise resource_timeout") from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})".encode(), 0)
        with self._lock:
            self._held[name] = fd

    def release(self, names: Iterable[str]) -> None:
        """Give the locks back."""
        for name in names:
            with self._lock:
                fd = self._held.pop(name, None)
            if fd is not None:
                os.ftruncate(fd, 0)
                os.close(fd)  # closing the descriptor releases the flock

    def close(self) -> None:
        self.release(list(self._held))
