"""The schema, applied once into a template database named after its content hash.

The hash covers the schema files' names and bytes, the ``schema_hook``'s
qualified name and ``schema_version``. An unchanged schema reuses the template
(no DDL at all); a changed one builds a new template under a temporary name,
renames it when complete (a half-built template is never used) and drops the
stale templates of the same project. Builds are serialised across concurrent
runs by a PostgreSQL advisory lock.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import os
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .config import Settings
from .errors import ConfigError, SchemaError
from . import leaks
from .ownership import databases_like, drop_database

TEMPLATE_PREFIX = "tddkit_tpl_"
BUILD_PREFIX = "tddkit_tplbuild_"


def load_hook(spec: str) -> Callable[[psycopg.Connection], Any]:
    """Import ``'package.module:function'``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"schema_hook {spec!r} must look like 'package.module:function'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"schema_hook {spec!r} cannot be loaded: {exc}") from None


def _line_of(text: str, position: Optional[str]) -> Optional[int]:
    """1-based line of a 1-based character position reported by PostgreSQL."""
    if not position:
        return None
    return text.count("\n", 0, max(int(position) - 1, 0)) + 1


def apply_schema_files(conn: psycopg.Connection, files: List[Path]) -> int:
    """Run each SQL file in order; return how many; SchemaError names file, line and message."""
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaError(f"schema file {path} cannot be read: {exc.strerror}") from None
        try:
            conn.execute(text.encode(), prepare=False)
        except psycopg.Error as exc:
            line = _line_of(text, exc.diag.statement_position)
            where = f"{path}:{line}" if line else str(path)
            message = (exc.diag.message_primary or str(exc)).strip()
            raise SchemaError(f"schema error in {where}: {message}") from None
    return len(files)


@dataclasses.dataclass
class SchemaSource:
    """What the schema is made of, and its content hash."""

    files: List[Path]
    hook: Optional[str]
    version: str
    project: str
    leak_check: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> "SchemaSource":
        files = [settings.resolve(p) for p in settings.schema]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise ConfigError(f"schema file not found: {', '.join(missing)} (check 'schema' in your tddkit config)")
        if settings.schema_hook:
            load_hook(settings.schema_hook)  # fail now, before any server work
        project = hashlib.sha256(str(Path(settings.root or os.getcwd()).resolve()).encode()).hexdigest()[:8]
        return cls(files, settings.schema_hook, settings.schema_version, project, settings.leak_check)

    @functools.cached_property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(f"hook={self.hook}\0version={self.version}".encode())
        if self.leak_check:
            digest.update(b"\0leak_check=" + leaks.INSTALL.encode())
        return digest.hexdigest()[:16]

    @property
    def template_name(self) -> str:
        return f"{TEMPLATE_PREFIX}{self.project}_{self.fingerprint}"

    def apply(self, conn: psycopg.Connection) -> None:
        """Apply the files, then the hook, on ``conn`` (committed by the caller)."""
        self.apply_schema(conn)
        if self.leak_check:
            leaks.install(conn)

    def apply_schema(self, conn: psycopg.Connection) -> None:
        """Apply the project's schema only: the files, then the hook."""
        apply_schema_files(conn, self.files)
        if self.hook:
            try:
                load_hook(self.hook)(conn)
            except psycopg.Error as exc:
                raise SchemaError(f"schema_hook {self.hook!r} failed: {exc.diag.message_primary or exc}") from None


@dataclasses.dataclass
class TemplateResult:
    """How the template was obtained."""

    name: str
    built: bool
    seconds: float

    def describe(self) -> str:
        how = f"built in {self.seconds * 1000:.1f} ms" if self.built else \
            f"reused (unchanged, checked in {self.seconds * 1000:.1f} ms)"
        return f"schema template {self.name} {how}"


def ensure_template(admin: psycopg.Connection, server_dsn: str, source: SchemaSource,
                    rebuild: bool = False) -> TemplateResult:
    """Return the schema template, building it if missing (or if ``rebuild``)."""
    started = time.perf_counter()
    name = source.template_name
    lock_key = int(hashlib.sha256(f"tddkit-schema-{source.project}".encode()).hexdigest()[:15], 16)
    admin.execute("SELECT pg_advisory_lock(%s)", (lock_key,))
    try:
        if rebuild:
            drop_database(admin, name, force=True)
        built = not databases_like(admin, name)
        if built:
            _build(admin, server_dsn, source, name)
        for stale in databases_like(admin, f"{TEMPLATE_PREFIX}{source.project}\\_%") + \
                databases_like(admin, f"{BUILD_PREFIX}{source.project}\\_%"):
            if stale != name:
                drop_database(admin, stale, force=stale.startswith(BUILD_PREFIX))
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (lock_key,))
    return TemplateResult(name, built, time.perf_counter() - started)


def _build(admin: psycopg.Connection, server_dsn: str, source: SchemaSource, name: str) -> None:
    """Build under a temporary name, then rename: a half-built template is never visible."""
    building = f"{BUILD_PREFIX}{source.project}_{source.fingerprint}"
    drop_database(admin, building, force=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
    try:
        with psycopg.connect(make_conninfo(server_dsn, dbname=building)) as conn:
            source.apply(conn)
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(building), sql.Identifier(name)))
    except BaseException:
        drop_database(admin, building, force=True)
        raise
