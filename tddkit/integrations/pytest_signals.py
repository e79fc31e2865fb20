"""SIGTERM and SIGHUP under pytest: while tddkit is in use they stop the session as Ctrl-C does.

The signal becomes tddkit's ``Interrupted`` (a KeyboardInterrupt) in the
running test: pytest stops the session at once through its own interruption
path (no later test runs on a server that is about to go), tears the fixtures
down, and the plugin closes the tddkit session (its databases dropped, the
embedded server stopped) and makes the exit status 128 + the signal, as under
``python -m tddkit run``. Later signals are ignored, and one that comes after
the tests only sets the exit status: the cleanup runs to its end. A process in
which tddkit never started dies of the signal as it would without the plugin,
and a handler of the user's own is left alone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

#: The signals that stop a session (SIGINT already raises KeyboardInterrupt).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def tddkit_in_use() -> bool:
    """Whether tddkit's sessions were loaded in this process (a server or test databases may need cleaning up)."""
    return "tddkit.session.session" in sys.modules


class SignalStop:
    """The handlers of one pytest process, and the signal that stopped it."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._holding = False

    def install(self) -> None:
        """Handle the signals that still have their default action (from the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            if signal.getsignal(sig) == signal.SIG_DFL:
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def hold(self) -> None:
        """The tests are over: a signal from now on only sets the exit status."""
        self._holding = True

    def uninstall(self) -> None:
        """Put back the handlers found at ``install``."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def exit_status(self, status: int) -> int:
        """128 + the signal that stopped the session, else ``status``."""
        return 128 + self.received if self.received is not None else status

    def _on_signal(self, signum: int, frame: object) -> None:
        if not tddkit_in_use():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # nothing of tddkit to clean up: die of it, as without the plugin
            return
        if self.received is not None:
            return
        self.received = signum
        for sig in self._previous:
            signal.signal(sig, signal.SIG_IGN)
        if not self._holding:
            from ..errors import Interrupted

            raise Interrupted(signum)
