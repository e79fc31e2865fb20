"""ServerProbe: tells, after a connection broke, whether the server itself is gone and why."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from ..errors import ServerError, one_line
from .admin import redact

#: After the server went away or crashed, how long to wait for it to come back (crash recovery).
SERVER_RECOVERY_WAIT = 10.0


class ServerProbe:
    """Asked once a connection broke; once the server is found gone, every later question gets that answer.

    ``server_exit`` (given when this process started the server) says why
    the server process ended, or None while it runs. ``on_gone`` callbacks
    run once, when the server is first found gone (e.g. to close a pool that
    would keep trying to reconnect).
    """

    def __init__(self, server_dsn: str, server_exit: Callable[[], str | None] | None = None) -> None:
        self.server_dsn = server_dsn
        self.server_exit = server_exit
        #: Set once the server is found gone: the message every later request raises.
        self.gone: str | None = None
        self.on_gone: list[Callable[[], None]] = []

    def check(self) -> None:
        """Raise ServerError if the server is gone (stopped or crashed)."""
        reason = self.gone_reason()
        if reason is not None:
            raise ServerError(reason)

    def gone_reason(self) -> str | None:
        """Why the server cannot be used any more, or None while it can."""
        if self.gone is None:
            why = self.server_exit() if self.server_exit is not None else None
            if why is None:
                why = self._unreachable()
            if why is None:
                return None
            self.gone = (
                f"the PostgreSQL server is gone ({why}): it stopped or crashed during the run, so this test "
                "and the ones after it cannot run; look for the cause (out of memory, a server crash, "
                "someone stopping it) and run again"
            )
            for callback in self.on_gone:
                callback()
        return self.gone

    def _unreachable(self) -> str | None:
        """None if the server is there (it accepts connections, or answers with a refusal such as
        "too many clients"; a crash recovery is waited out), else why it is not."""
        deadline = time.monotonic() + SERVER_RECOVERY_WAIT
        while True:
            try:
                psycopg.connect(self.server_dsn, connect_timeout=5).close()
                return None
            except psycopg.OperationalError as exc:
                reason = one_line(exc)
            if "recovery mode" in reason or "starting up" in reason:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
            elif "FATAL:" in reason and "shutting down" not in reason:
                return None  # the server answered: it is alive, only this connection was refused
            return f"cannot connect to {redact(self.server_dsn)}: {reason}"
