"""The per-test timeout: a SIGALRM timer that raises TestTimeout where a test is stuck past ``test_timeout``.

Armed when a test starts and disarmed before tddkit's cleanup after it, on
the main thread only (where Python runs signal handlers). When it fires in
the test's code (a ``time.sleep``, a lock that is never released, a query),
the test's running query is cancelled and TestTimeout is raised right there,
so its traceback shows where the test was stuck. When it fires inside
unittest's or tddkit's own code between the test's parts, it tries again
10 ms later. Off (``test_timeout = 0``), nothing here runs at all.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType

from ..errors import TestTimeout

#: Modules whose frames the timer never interrupts: the test's own code is elsewhere.
_FRAMEWORK = ("unittest", "tddkit")
_RETRY_SECONDS = 0.01
_SUPPORTED = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")

_seconds: float | None = None  # the timeout of the running test while the timer is armed
_cancel: Callable[[], None] | None = None


def arm(seconds: float, cancel: Callable[[], None] | None = None) -> bool:
    """Start the running test's timer; ``cancel()`` stops its query when it fires. False where no timer
    can run (not the main thread, no SIGALRM)."""
    global _seconds, _cancel
    if not _SUPPORTED or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGALRM) is not _expired:
        signal.signal(signal.SIGALRM, _expired)
    _seconds, _cancel = seconds, cancel
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return True


def disarm() -> None:
    """Stop the timer, if it runs (the test ended)."""
    global _seconds, _cancel
    if _seconds is not None:
        _seconds, _cancel = None, None
        signal.setitimer(signal.ITIMER_REAL, 0)


def _in_framework(frame: FrameType | None) -> bool:
    name = frame.f_globals.get("__name__", "") if frame is not None else ""
    return name.partition(".")[0] in _FRAMEWORK


def _expired(signum: int, frame: FrameType | None) -> None:
    global _seconds, _cancel
    seconds, cancel = _seconds, _cancel
    if seconds is None:
        return  # the test ended as the timer fired
    if _in_framework(frame):
        signal.setitimer(signal.ITIMER_REAL, _RETRY_SECONDS)
        return
    _seconds, _cancel = None, None
    if cancel is not None:
        with contextlib.suppress(Exception):
            cancel()
    raise TestTimeout(f"the test ran longer than test_timeout = {seconds:g} s; the traceback shows where it was "
                      "stuck. Make it faster or raise the limit (--timeout, TDDKIT_TEST_TIMEOUT, [tool.tddkit] "
                      "test_timeout; 0 turns it off)")
