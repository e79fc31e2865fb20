"""Stopping every embedded server this process started: at exit, and on SIGTERM or SIGHUP.

SIGINT needs nothing here: it raises KeyboardInterrupt, and the servers are
stopped by the ``finally`` blocks and ``with`` statements it unwinds through
(and at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from typing import Protocol


class Stoppable(Protocol):
    """Anything with a ``stop()`` that is safe to call twice."""

    def stop(self) -> None: ...


_running: list[Stoppable] = []
_handlers_installed = False


def stop_all() -> None:
    """Stop every registered server (each unregisters itself as it stops)."""
    for server in list(_running):
        server.stop()


def _on_signal(signum: int, frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def register(server: Stoppable) -> None:
    """Stop ``server`` at exit or on SIGTERM/SIGHUP unless it was stopped before.

    The signal handlers are installed once, from the main thread, and only
    where nobody installed their own.
    """
    global _handlers_installed
    _running.append(server)
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _on_signal)


def unregister(server: Stoppable) -> None:
    """Forget ``server`` (it was stopped)."""
    with contextlib.suppress(ValueError):
        _running.remove(server)
