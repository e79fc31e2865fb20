"""How a run stops on a signal: SIGINT, SIGTERM and SIGHUP end it at once, orderly, exit code 128 + signal.

``install()`` (the first step of ``run`` and ``bench``; ``watch`` installs
it for SIGTERM and SIGHUP only and handles Ctrl-C its own way: it ends one
run, not the watch) turns each into
``Interrupted``, a KeyboardInterrupt: unittest stops the run instead of
recording it as one test's error, and the ``finally`` blocks it unwinds
through stop the workers, drop the databases and stop the server. Signals
that come after the first are ignored (the cleanup is quick, and Python's
own shutdown would otherwise die of one), and cleanup that must not be cut
short runs in a ``deferred()`` block.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence

from ..errors import Interrupted

#: The signals that stop a run.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: int | None = None  # the first signal (later ones are ignored)
_pending = False  # it came inside a deferred() block and is raised when the block ends
_deferring = 0


def _on_signal(signum: int, frame: object) -> None:
    global _received, _pending
    if _received is not None:
        return  # the run is already stopping
    _received = signum
    for sig in SIGNALS:  # from now on the kernel drops them: also while the interpreter shuts down
        signal.signal(sig, signal.SIG_IGN)
    if _deferring:
        _pending = True
        return
    raise Interrupted(signum)


def install(signals: Sequence[int] = SIGNALS) -> None:
    """Handle ``signals`` (SIGINT, SIGTERM and SIGHUP) in this process from now on (call it from the main
    thread)."""
    global _received, _pending
    _received, _pending = None, False
    if threading.current_thread() is threading.main_thread():
        for sig in signals:
            signal.signal(sig, _on_signal)


def reset_in_child() -> None:
    """In a forked worker: the default action for SIGTERM and SIGHUP (die at once), SIGINT ignored.

    The parent handles the run's signals and stops its workers itself.
    """
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN if sig == signal.SIGINT else signal.SIG_DFL)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run the block to its end even if a signal comes; raise Interrupted for it afterwards."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending:
            _pending = False
            raise Interrupted(_received or signal.SIGINT)


def raise_if_received() -> None:
    """Raise Interrupted for a signal that came and was swallowed: unittest's loader turns every exception a
    test module's import raises, Ctrl-C too, into a failed test."""
    if _received is not None:
        raise Interrupted(_received)


def received() -> int | None:
    """The signal that is stopping the run, if one came."""
    return _received


def exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal that stopped the run (SIGINT for a plain KeyboardInterrupt): 130, 143, 129."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))
