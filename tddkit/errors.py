"""Exceptions tddkit raises. Each message says what went wrong and what to do next."""

from __future__ import annotations

import traceback


def one_line(what: object) -> str:
    """``what`` as text on one line (an exception's message, a server's multi-line error)."""
    return " ".join(str(what).split())


def described(exc: BaseException) -> str:
    """``Type: message (at file:line)`` on one line, the line being the innermost frame that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    message = one_line(exc)
    return f"{type(exc).__name__}{': ' + message if message else ''}{where}"


class TddkitError(Exception):
    """Base class of tddkit's own errors."""


class ConfigError(TddkitError):
    """Bad configuration: unknown key, wrong type, missing file."""


class TableEntryError(ValueError):
    """A bad entry in a table setting (parsers.table); load_settings turns it into a ConfigError naming the table."""


class ServerError(TddkitError):
    """The PostgreSQL server could not be found, started or reached."""


class OwnershipError(TddkitError):
    """An operation on a database whose name tddkit does not own."""


class SchemaError(TddkitError):
    """The schema (SQL files or hook) could not be applied."""


class PoolExhaustedError(TddkitError):
    """No pooled connection became free within the pool timeout."""


class IsolationError(TddkitError):
    """A test tried to end the transaction that isolates it from other tests."""


class ResourceTimeoutError(TddkitError):
    """A named resource stayed held by another test past ``resource_timeout``."""


class RunInterrupted(Exception):
    """Ctrl-C ended one run of ``python -m tddkit watch``, not the watch itself (watch goes on)."""


class PerformanceWarning(UserWarning):
    """A recorded metric is over its threshold, or a test repeated a statement (N+1)
    (``-W error::tddkit.PerformanceWarning`` fails on it)."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP); the exit code is 128 + ``signum``.

    A KeyboardInterrupt, so unittest stops the run at once instead of
    recording it as one test's error.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        import signal

        return f"stopped by {signal.Signals(self.signum).name}"


class TestTimeout(BaseException):
    """A test ran longer than ``test_timeout``; raised where it was stuck.

    A BaseException, so ``except Exception`` in the test cannot swallow it;
    unittest reports it as the test's error and goes on with the next test.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name
