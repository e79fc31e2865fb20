"""Starting the session while the rest of tddkit and the tests import: a one-test run waits less.

``python -m tddkit run`` calls ``begin()`` first; the pytest plugin calls
``start()`` once it knows that a test will use tddkit. A thread then copies
the cached cluster and spawns the embedded server (``EmbeddedPostgres.launch``:
no psycopg needed), while the main thread imports psycopg and the session's
modules; then the thread starts the session on that server (or on the
given one): the schema template and the test database, while the main
thread imports the rest and discovers the tests. ``finish()`` hands the
session over, or raises what starting it raised; ``abandon()`` waits for
the thread and closes what it started.

The thread never imports a module: everything it runs was imported by the
main thread before (two threads importing at once can deadlock on a
circular import). Not started early: ``--parallel`` runs, and projects
with a ``schema_hook`` or ``alembic_config`` (the project's own code:
tddkit imports and runs it on the main thread only).
"""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from ..config.settings import Settings, load_settings
from ..errors import TddkitError
from .schema import SchemaSource

if TYPE_CHECKING:
    from ..server.embedded import EmbeddedPostgres


def run_settings(args: argparse.Namespace) -> Settings:
    """The settings of ``run``: the config file found from the targets, with the command line's overrides."""
    return load_settings({"dsn": args.dsn, "rebuild_schema": args.rebuild_schema,
                          "test_timeout": args.test_timeout}, targets=args.targets)


class _EarlyStart:
    """The thread starting the session, and what it made or raised."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server: EmbeddedPostgres | None = None  # launched here, if the session will use it
        self.error: BaseException | None = None
        self.imported = threading.Event()
        self.cancelled = False
        self.thread = threading.Thread(target=self._start, name="tddkit-early-start")  # joined before exit

    def _start(self) -> None:
        try:
            self._launch_server()
            self.imported.wait()
            if not self.cancelled:
                from .session import get_session  # imported by begin(), on the main thread

                session = get_session(self.settings, server=self.server)
                if self.server is not None and session._server is not self.server:  # started without it meanwhile
                    self.server.stop()
        except BaseException as exc:  # handed to the main thread by finish()
            self.error = exc
            if self.server is not None:  # launched, never handed to a session (stopping twice is harmless)
                self.server.stop()

    def _launch_server(self) -> None:
        """Copy and spawn the embedded server, unless the session will use another one."""
        settings = self.settings
        if settings.dsn:
            return
        from ..server.persistent import read_state  # imported by start(), on the main thread
        from .launch import launch_embedded

        if not read_state(settings.cache_path):
            self.server = launch_embedded(settings, SchemaSource.from_settings(settings).template_name)


_pending: _EarlyStart | None = None


def begin(args: argparse.Namespace) -> None:
    """Start the session of ``run`` in the background, where that is safe (see the module docstring)."""
    if args.parallel:
        return
    try:
        settings = run_settings(args)
    except TddkitError:
        return  # the run reports it in its usual place
    start(settings)


def start(settings: Settings) -> None:
    """Start the session of ``settings`` in the background, unless it runs the project's code (or already began)."""
    global _pending
    if settings.schema_hook or settings.alembic_config or _pending is not None:
        return
    if not settings.dsn:  # the thread may launch the embedded server: what that runs, imported here
        from ..server import persistent  # noqa: F401
        from . import launch  # noqa: F401
    early = _pending = _EarlyStart(settings)
    early.thread.start()
    try:
        from . import session  # noqa: F401  psycopg and what a session needs, for the thread's second step
    except BaseException:
        early.cancelled = True  # the thread must not import it instead
        raise
    finally:
        early.imported.set()


def finish(settings: Settings) -> None:
    """Wait for the early start (if one was made with ``settings``); raise what it raised.

    Afterwards ``get_session(settings)`` returns the session it started.
    """
    global _pending
    early, _pending = _pending, None
    if early is None:
        return
    early.imported.set()
    early.thread.join()
    if early.settings != settings:  # not the session this run wants: do without it
        _close(early)
    elif early.error is not None:
        raise early.error


def abandon() -> None:
    """The run ends without the session: wait for the thread, then stop what it started."""
    global _pending
    early, _pending = _pending, None
    if early is not None:
        early.cancelled = True
        early.imported.set()
        early.thread.join()
        _close(early)


def _close(early: _EarlyStart) -> None:
    from .session import close_session

    close_session()
    if early.server is not None:
        early.server.stop()  # launched, never handed to a session (stopping twice is harmless)
