"""Alembic as a schema source: the files of a migration environment, and ``upgrade head`` on the template.

Reading alembic.ini and listing the files imports nothing: a reused template
needs neither Alembic nor the project's models. A build imports Alembic and
SQLAlchemy and runs ``upgrade head`` as ``alembic`` run next to alembic.ini
would (that directory is the current one meanwhile). The migration
environment gets a SQLAlchemy connection on the template database as
``config.attributes["connection"]`` (Alembic's recipe for sharing a
connection), while ``sqlalchemy.url`` and the ``alembic_url_env`` variables
point at the same database for an ``env.py`` that builds its own engine. A
connection the migrations open to any other database is refused before it
is used.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import os
import re
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, SchemaError, described
from .source_files import module_file, project_imports

if TYPE_CHECKING:
    import psycopg

#: The separators ``path_separator`` (``version_path_separator`` before Alembic 1.16) may name.
_SEPARATORS = {"os": os.pathsep, "space": " ", "newline": "\n", ":": ":", ";": ";", ",": ","}


@dataclasses.dataclass(frozen=True)
class AlembicProject:
    """A migration environment: its alembic.ini, its script directories and where its modules are found."""

    ini: Path
    #: ``script_location`` (env.py, the revisions) and any ``version_locations``.
    script_dirs: tuple[Path, ...]
    #: ``prepend_sys_path``, resolved against alembic.ini's directory.
    sys_paths: tuple[str, ...]
    #: The driver of alembic.ini's ``sqlalchemy.url`` when it is PostgreSQL's, else psycopg's.
    driver: str
    #: Variables set to the template database's URL while the migrations run.
    url_env: tuple[str, ...] = ()

    @classmethod
    def read(cls, ini: Path, url_env: Sequence[str] = ()) -> AlembicProject:
        """The environment ``ini`` describes (one-line ConfigError when it cannot be read or is incomplete)."""
        parser = configparser.ConfigParser({"here": str(ini.parent)})
        try:
            if not parser.read(ini, encoding="utf-8"):
                raise ConfigError(f"alembic_config file {ini} not found (check 'alembic_config' in your tddkit config)")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"alembic_config file {ini} cannot be parsed: {' '.join(str(exc).split())}") from None
        options: Mapping[str, str] = parser["alembic"] if parser.has_section("alembic") else {}
        if not options.get("script_location"):
            raise ConfigError(f"{ini} has no script_location in its [alembic] section: point alembic_config at the "
                              "alembic.ini that 'alembic upgrade head' uses")
        separator = options.get("path_separator") or options.get("version_path_separator")
        sys_paths = tuple(str(ini.parent / p) for p in _split(options.get("prepend_sys_path", ""), separator))
        dirs = [_location(ini, options["script_location"], sys_paths)]
        dirs += [_location(ini, v, sys_paths) for v in _split(options.get("version_locations", ""), separator)]
        for directory in dirs:
            if not directory.is_dir():
                raise ConfigError(f"{ini}: the migration scripts directory {directory} does not exist")
        scheme = options.get("sqlalchemy.url", "").partition("://")[0]
        driver = scheme if scheme.startswith("postgresql") and "://" in options.get("sqlalchemy.url", "") else \
            "postgresql+psycopg"
        return cls(ini.resolve(), tuple(d.resolve() for d in dirs), sys_paths, driver, tuple(url_env))

    def files(self) -> list[Path]:
        """alembic.ini and every file of the script directories (env.py, the revisions, what they read)."""
        found = {self.ini}
        for directory in self.script_dirs:
            found.update(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                         and not p.name.startswith(".") and not p.name.endswith(("~", ".pyc")))
        return sorted(found)

    def imports(self, project: Path) -> list[Path]:
        """The project's modules that env.py and the revisions import, directly or through each other."""
        sources = [p for p in self.files() if p.suffix == ".py"]
        return project_imports(sources, [*self.sys_paths, str(self.ini.parent)], project)

    def upgrade(self, conn: psycopg.Connection) -> None:
        """Run ``upgrade head`` on ``conn``'s database (committing ``conn`` first: the migrations use their own
        connections); a failure is a one-line SchemaError naming the revision."""
        try:
            from alembic import command
            from alembic.config import Config
            from sqlalchemy import create_engine, event
            from sqlalchemy.pool import NullPool, Pool
        except ImportError as exc:
            raise ConfigError(f"alembic_config needs Alembic and SQLAlchemy ({exc}): pip install "
                              "'tddkit[alembic]'") from None
        conn.commit()
        database = conn.info.dbname
        config = Config(str(self.ini))
        config.attributes["configure_logger"] = False  # the recipe's switch: leave the test process's logging
        theirs = _url(conn, self.driver).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", theirs.replace("%", "%%"))
        engine = create_engine(_url(conn, "postgresql+psycopg"), poolclass=NullPool)
        guard = _only_on(database)
        event.listen(Pool, "connect", guard)
        try:
            with _next_to(self.ini), _variables(dict.fromkeys(self.url_env, theirs)), engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SchemaError:
            raise
        except Exception as exc:
            raise SchemaError(self._failure(exc)) from None
        finally:
            event.remove(Pool, "connect", guard)
            engine.dispose()

    def _failure(self, exc: BaseException) -> str:
        """One line: the revision whose code raised ``exc`` (its file and line) and what went wrong."""
        revision_frame = None
        for frame, line in traceback.walk_tb(exc.__traceback__):
            path = Path(frame.f_code.co_filename)
            if path.name != "env.py" and any(path.is_relative_to(d) for d in self.script_dirs):
                revision_frame = (frame, line, path)
        if revision_frame is None:
            return f"alembic upgrade head ({self.ini}) failed: {described(exc)}"
        frame, line, path = revision_frame
        cause = getattr(exc, "orig", None) or exc  # SQLAlchemy's DBAPIError wraps the driver's error
        text = str(cause).strip()
        message = getattr(getattr(cause, "diag", None), "message_primary", None) or \
            (text.splitlines()[0] if text else "")
        where = os.path.relpath(path, self.ini.parent)
        return (f"alembic revision {frame.f_globals.get('revision', '?')} ({where}:{line}) failed: "
                f"{type(cause).__name__}: {' '.join(message.split())}")


def _split(value: str, separator: str | None) -> list[str]:
    """The paths of a list option: split by ``separator`` when one is set, else by spaces and commas."""
    if separator:
        return [p.strip() for p in value.split(_SEPARATORS.get(separator, separator)) if p.strip()]
    return [p for p in re.split(r"[\s,]+", value) if p]


def _location(ini: Path, value: str, roots: Sequence[str]) -> Path:
    """A script location: a path (relative to alembic.ini's directory) or ``package:path`` in a package."""
    package, colon, inside = value.partition(":")
    if colon and all(part.isidentifier() for part in package.split(".")):
        found = module_file(package, [*roots, str(ini.parent)])
        if found is None:
            raise ConfigError(f"{ini}: the package {package!r} of script location {value!r} is not found")
        return found.parent / inside
    return ini.parent / value


def _url(conn: psycopg.Connection, driver: str) -> Any:
    """A SQLAlchemy URL of ``conn``'s database for ``driver`` (a socket directory as ``?host=``)."""
    from sqlalchemy.engine import URL

    params = conn.info.get_parameters()
    host = params.pop("host", None)
    port = params.pop("port", None)
    query = {**params, **({"host": host} if host else {}), **({"port": port} if port else {})}
    username, database = query.pop("user", None), query.pop("dbname", None)
    return URL.create(driver, username=username, password=conn.info.password or None, database=database,
                      query=query)


def _only_on(database: str) -> Any:
    """A pool ``connect`` listener refusing a connection to any database but ``database``."""
    def check(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT current_database()")
            name = cursor.fetchone()[0]
        finally:
            cursor.close()
        dbapi_connection.rollback()
        if name != database:
            raise SchemaError(f"the Alembic migrations connected to database {name!r} instead of tddkit's template "
                              f"database: make env.py use config.attributes['connection'], or build its engine from "
                              f"sqlalchemy.url or a variable named in alembic_url_env")
    return check


@contextlib.contextmanager
def _next_to(ini: Path) -> Iterator[None]:
    """Run in alembic.ini's directory, as ``alembic`` does; sys.path as it was afterwards (prepend_sys_path)."""
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(ini.parent)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path


@contextlib.contextmanager
def _variables(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
