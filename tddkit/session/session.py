"""The test session: one server (embedded or given), the schema template and one TestDatabase per process.

``python -m tddkit`` starts and closes the session itself. Under plain
``python -m unittest`` or pytest, ``get_session()`` starts it on first use
and it is closed at interpreter exit. Nothing else starts or closes it.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import threading
import time
from typing import TYPE_CHECKING

import psycopg

from ..config.settings import Settings, load_settings
from ..errors import ConfigError, TddkitError
from ..isolation.file_locks import FileResourceLocks
from ..isolation.leaks.watch import tracks_commits
from ..isolation.lending import Lender
from ..isolation.named_resources import ResourceLocks
from .admin import connect_admin, own_options
from .database import TestDatabase
from .ownership import check_can_create, drop_dead_runs
from .passfile import PassFile
from .probe import ServerProbe
from .schema import SchemaSource
from .template import TemplateResult, clean_for_snapshot, ensure_template, hold_template

if TYPE_CHECKING:  # imported when the session starts one (a given server needs none of it)
    from ..server.binaries import PgBinaries
    from ..server.embedded import EmbeddedPostgres


class Session:
    """A started server, the schema template and (usually) a test database, closed together.

    Its public attributes are ``dsn``, ``server_dsn`` and ``settings``; the rest
    (underscored) is tddkit's own and can change between versions. Its DSNs
    carry no password (see ``passfile``).
    """

    def __init__(self, settings: Settings, server: EmbeddedPostgres | None = None) -> None:
        self.settings = settings
        #: The embedded server: given when launched early (see ``early_start``), else started by ``_start()``.
        self._server = server
        self._server_origin = ""
        self._binaries: PgBinaries | None = None
        self._database: TestDatabase | None = None
        self._lender: Lender | None = None
        self._probe: ServerProbe | None = None
        self._schema: SchemaSource | None = None
        self._template: TemplateResult | None = None
        self.server_dsn = ""
        self._locks: ResourceLocks | FileResourceLocks | None = None
        self._startup_seconds = 0.0
        self._admin: psycopg.Connection | None = None
        #: The leak check needs triggers in the template: the server does not track commit timestamps.
        self._leak_triggers = False
        #: Holds the given DSN's password, so that the session's DSNs carry none.
        self._passfile = PassFile()

    def _start(self, with_database: bool = True, template: TemplateResult | None = None) -> Session:
        """Start (or reach) the server and ensure the schema template (unless ``template`` is given);
        create the test database too unless ``with_database`` is False (a parallel run's parent)."""
        start = time.perf_counter()
        try:
            self._schema = SchemaSource.from_settings(self.settings)
            server_dsn = self._server_dsn(self._schema)
            # One maintenance connection for the session's own work (template, test database, its drop).
            admin = self._admin = connect_admin(server_dsn)
            self.server_dsn = self._passfile.hide(server_dsn)
            server_exit = self._server.exit_reason if self._server is not None else None
            self._probe = ServerProbe(self.server_dsn, server_exit)
            self._leak_triggers = self.settings.leak_check and not tracks_commits(admin)
            self._schema = dataclasses.replace(self._schema, leak_triggers=self._leak_triggers)
            if template is None:
                check_can_create(admin)
                drop_dead_runs(admin)  # databases left by runs killed before they could drop them
                template = ensure_template(admin, self.server_dsn, self._schema, self.settings.rebuild_schema)
            else:  # held by the run that made it, and by this process too: it may clone from it again
                hold_template(admin, template.name)
            self._template = template
            if with_database:
                self._database = TestDatabase(self.settings, self.server_dsn, leak_triggers=self._leak_triggers
                                              ).create(template.name, admin)
                self._lender = Lender(self._database, self._probe)
        except BaseException:
            self._close()
            raise
        self._startup_seconds = time.perf_counter() - start
        return self

    def _schema_source(self) -> SchemaSource:
        """The schema source of the settings, with the leak check's triggers when this server needs them."""
        return SchemaSource.from_settings(self.settings, leak_triggers=self._leak_triggers)

    def _switch_template(self, source: SchemaSource) -> TemplateResult:
        """The template of ``source`` (built if missing), held instead of the session's current one; the caller
        clones from it and makes it ``self._template``."""
        if self._admin is None or self._admin.closed or self._admin.broken:
            self._admin = connect_admin(self.server_dsn)  # a new connection holds nothing yet
            held = None
        else:
            held = self._template.name if self._template is not None else None
        return ensure_template(self._admin, self.server_dsn, source, replacing=held)

    def _server_dsn(self, schema: SchemaSource) -> str:
        if self.settings.dsn:
            self._server_origin = "the given DSN"
            return self.settings.dsn
        if self._server is None:
            from ..server.persistent import read_state
            from .launch import launch_embedded

            state = read_state(self.settings.cache_path)
            if state:
                self._server_origin = f"the running tddkit server (PostgreSQL {state['version']}, pid {state['pid']})"
                return str(state["dsn"])
            self._server = launch_embedded(self.settings, schema.template_name)
        self._server.wait_ready()
        self._binaries = self._server.binaries
        self._server_origin = f"embedded {self._binaries.describe()}"
        return self._server.dsn

    @property
    def dsn(self) -> str:
        """The test database's connection string (for code that must open a connection of its own)."""
        if self._database is None:
            raise TddkitError("this tddkit session has no test database (a parallel run's parent process)")
        return self._database.dsn

    def _describe(self) -> str:
        """One line: which server and database the session uses, and what starting it cost."""
        parts = [self._server_origin]
        if self._database is not None:
            parts.append(f"database {self._database.name}")
        if self._template is not None:
            parts.append(self._template.describe())
        if self._database is not None:
            parts.append(f"cloned in {self._database.clone_seconds * 1000:.1f} ms")
        parts.append(f"ready in {self._startup_seconds * 1000:.0f} ms")
        return "; ".join(parts)

    def _resource_locks(self) -> ResourceLocks | FileResourceLocks:
        """The lock manager for named resources (created on first use): advisory locks on a server that other
        processes share; lock files in the cache directory when this process's server is its own."""
        if self._locks is None:
            if self._server is not None:
                self._locks = FileResourceLocks(self._server.cache.root / "resources", self.settings.resource_timeout)
            else:
                self._locks = ResourceLocks(self.server_dsn, self.settings.resource_timeout,
                                            options=own_options(self.server_dsn))
        return self._locks

    def _close(self) -> None:
        """Drop the test database and stop the embedded server. Safe to call twice."""
        if self._locks is not None:
            self._locks.close()
            self._locks = None
        try:
            if self._database is not None:
                if self._server is not None:  # its cluster is deleted, or kept with nothing but the template
                    self._database.close_pool()
                else:
                    self._database.drop(self._admin)
                self._database = None
                self._lender = None
        finally:
            admin, self._admin = self._admin, None
            if admin is not None:
                admin.close()
            if self._server is not None:
                # keep the cluster with its new template (and nothing else): the next run skips the DDL
                template = self._template.name if self._template is not None and self._template.built else None
                if template and not clean_for_snapshot(self.server_dsn, template):
                    template = None
                settings = self.settings
                self._server.stop(save_snapshot=template, project=settings.config_file or settings.root or os.getcwd(),
                                  cap_mb=settings.cache_max_mb)
                self._server = None
            self._passfile.remove()


_current: Session | None = None
_lock = threading.Lock()
_owner_pid = os.getpid()


def current_session() -> Session | None:
    """The session already started in this process, if any."""
    return _current if _owner_pid == os.getpid() else None


def get_session(settings: Settings | None = None, *, with_database: bool = True,
                template: TemplateResult | None = None, config_near: str | None = None,
                server: EmbeddedPostgres | None = None) -> Session:
    """The process's session, started on first use with ``settings`` (default: the config file found
    upward from ``config_near``, a test module's file, then from the current directory), on ``server`` if
    one was launched for it. Asking for it with other ``settings`` than it started with is a ConfigError."""
    global _current, _owner_pid
    with _lock:
        if _current is not None and _owner_pid == os.getpid() and settings is not None:
            _check_same(_current.settings, settings)
        if _current is None or _owner_pid != os.getpid():
            if settings is None:
                settings = load_settings(targets=[config_near] if config_near else ())
            session = Session(settings, server)._start(with_database, template)
            _current, _owner_pid = session, os.getpid()
            atexit.register(close_session)
        return _current


def _check_same(started: Settings, wanted: Settings) -> None:
    """A process has one session: one asked for with other settings is an error, not the wrong session."""
    if wanted is started or wanted == started:
        return
    differing = [f.name for f in dataclasses.fields(Settings) if getattr(started, f.name) != getattr(wanted, f.name)]
    raise ConfigError(
        f"this process's tddkit session started with other settings (they differ in {', '.join(differing)}); a "
        "process has one session: start it once, with the settings it needs (under pytest it is the plugin's, "
        "from the config file and --tddkit-dsn: nothing may start one before it)"
    )


def close_session() -> None:
    """Close the process's session, if one is open."""
    global _current
    with _lock:
        session, _current = _current, None
    if session is not None and _owner_pid == os.getpid():
        session._close()


def adopt_forked(parent: Session) -> Session:
    """Make this process's session, in a child forked from the process holding ``parent``: the same server,
    template and test database, with a pool of its own (a pool does not survive fork). Closing it closes
    only that pool: the database and the server stay the parent's."""
    global _current, _owner_pid
    if parent._database is None:
        raise TddkitError("the forked session needs a test database in its parent")
    session = Session(parent.settings)
    session._server_origin, session.server_dsn = parent._server_origin, parent.server_dsn
    session._binaries, session._schema, session._template = parent._binaries, parent._schema, parent._template
    session._leak_triggers = parent._leak_triggers
    session._probe = ServerProbe(parent.server_dsn)  # the server is the parent's child: ask it by connecting
    database = TestDatabase(parent.settings, parent.server_dsn, name=parent._database.name,
                            leak_triggers=parent._leak_triggers)
    database.template = parent._database.template  # not created here, so never dropped here
    database.open_pool()
    session._database, session._lender = database, Lender(database, session._probe)
    _current, _owner_pid = session, os.getpid()
    return session
