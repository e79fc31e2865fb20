"""The schema template: a database holding the schema, built once per content hash and cloned per run.

An unchanged schema reuses the template (no DDL at all); a changed one builds
a new template under a temporary name, renames it when complete (a
half-built template is never used) and drops the stale templates of the same
project that no live run uses. Builds are serialised across concurrent runs
by a PostgreSQL advisory lock. Each template carries a comment saying when
it was built and for which project (tddkit's mark, see ``ownership``), which
``python -m tddkit server status`` lists.

A run holds a shared advisory lock keyed by its template's name on its
maintenance connection for as long as it runs (PostgreSQL releases it when
the connection ends, also when the process is killed): it clones from the
template again whenever a test leaked. A stale template is dropped only by
whoever gets that lock exclusively, so never while a run holds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from datetime import UTC, datetime

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..config.settings import OWNED_PREFIX
from ..errors import ConfigError, TddkitError
from ..output import describe_age
from .ownership import (
    TEMPLATE_COMMENT,
    create_database,
    database_comment,
    drop_database,
    mark_template,
    marked_databases_like,
    not_ours,
)
from .schema import TEMPLATE_PREFIX, SchemaSource
from .schema_record import remember, why_built

BUILD_PREFIX = "tddkit_tplbuild_"


@dataclasses.dataclass
class TemplateResult:
    """How the template was obtained."""

    name: str
    built: bool
    seconds: float
    #: Why it was built (what changed since the project's last build), see ``schema_record``.
    reason: str = ""

    def describe(self) -> str:
        took = f"{self.seconds * 1000:.1f} ms"
        if not self.built:
            return f"schema template {self.name} reused (unchanged, checked in {took})"
        return f"schema template {self.name} built in {took}" + (f" ({self.reason})" if self.reason else "")


def ensure_template(admin: psycopg.Connection, server_dsn: str, source: SchemaSource,
                    rebuild: bool = False, replacing: str | None = None) -> TemplateResult:
    """Return the schema template, building it if missing (or if ``rebuild``), and hold it on ``admin`` (see
    the module docstring); ``replacing``: the template ``admin`` held so far, no longer held afterwards."""
    started = time.perf_counter()
    name = source.template_name
    lock_key = int(hashlib.sha256(f"tddkit-schema-{source.project}".encode()).hexdigest()[:15], 16)
    admin.execute("SELECT pg_advisory_lock(%s)", (lock_key,))
    try:
        comment = database_comment(admin, name)
        if comment is not None and not comment.startswith(TEMPLATE_COMMENT):
            raise not_ours(name)
        if rebuild and comment is not None:
            _drop_unheld(admin, name, force=True, refuse=True)
        built = rebuild or comment is None
        reason = why_built(source.record, source.manifest, rebuild) if built else ""
        if built:
            _build(admin, server_dsn, source, name)
        hold_template(admin, name)
        if replacing is not None and replacing != name:
            admin.execute("SELECT pg_advisory_unlock_shared(%s)", (template_key(replacing),))
        for stale in marked_databases_like(admin, f"{TEMPLATE_PREFIX}{source.project}\\_%") + \
                marked_databases_like(admin, f"{BUILD_PREFIX}{source.project}\\_%"):
            if stale != name:
                _drop_unheld(admin, stale, force=stale.startswith(BUILD_PREFIX))
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (lock_key,))
    remember(source.record, source.manifest)
    return TemplateResult(name, built, time.perf_counter() - started, reason)


def template_key(name: str) -> int:
    """The advisory lock key of template ``name``: runs using it hold it shared."""
    return int.from_bytes(hashlib.sha256(f"tddkit-template:{name}".encode()).digest()[:8], "big", signed=True)


def hold_template(admin: psycopg.Connection, name: str) -> None:
    """Keep template ``name`` from being dropped while ``admin`` is open (a run's workers re-clone from it)."""
    admin.execute("SELECT pg_advisory_lock_shared(%s)", (template_key(name),))


def _drop_unheld(admin: psycopg.Connection, name: str, force: bool, refuse: bool = False) -> None:
    """Drop a template no live run holds; one that a run holds is kept (``refuse``: a one-line ConfigError)."""
    row = admin.execute("SELECT pg_try_advisory_lock(%s)", (template_key(name),)).fetchone()
    if row is None or not row[0]:
        if refuse:
            raise ConfigError(f"schema template {name!r} is in use by another live run, so --rebuild-schema "
                              "cannot replace it now: run again once that run has ended, or without "
                              "--rebuild-schema")
        return
    try:
        drop_database(admin, name, force=force, strict=refuse)
    except TddkitError:
        if refuse:
            raise
        # a stale template of another role is left to that role
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (template_key(name),))


def _build(admin: psycopg.Connection, server_dsn: str, source: SchemaSource, name: str) -> None:
    """Build under a temporary name, then rename: a half-built template is never visible."""
    building = f"{BUILD_PREFIX}{source.project}_{source.fingerprint}"
    drop_database(admin, building, force=True)
    create_database(admin, building)
    try:
        with psycopg.connect(make_conninfo(server_dsn, dbname=building)) as conn:
            source.apply(conn)
        mark_template(admin, building, datetime.now(UTC).isoformat(timespec="seconds"), source.root)
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(building), sql.Identifier(name)))
    except BaseException:
        drop_database(admin, building, force=True)
        raise


def list_templates(admin: psycopg.Connection) -> list[tuple[str, int, str]]:
    """The schema templates on a server: (name, size in bytes, comment), newest name first."""
    rows = admin.execute(
        "SELECT d.datname, pg_database_size(d.oid), coalesce(shobj_description(d.oid, 'pg_database'), '') "
        "FROM pg_database d WHERE d.datname LIKE %s ORDER BY d.datname", (f"{TEMPLATE_PREFIX}%",)).fetchall()
    return [(name, int(size), comment) for name, size, comment in rows]


def describe_template(name: str, size: int, comment: str) -> str:
    """One line for ``server status``: name, size, age and project of a template."""
    match = re.search(r"built (\S+) for (.*)$", comment)
    if match is None:
        return f"{name}  {size / 2**20:.1f} MB"
    age = datetime.now(UTC) - datetime.fromisoformat(match.group(1))
    return f"{name}  {size / 2**20:.1f} MB  built {describe_age(age.total_seconds())} ago  for {match.group(2)}"


def clean_for_snapshot(server_dsn: str, template: str) -> bool:
    """Leave only the template (and the system databases) on a server about to be kept as a snapshot:
    drop tddkit's other databases, rolling back their prepared transactions first. False (keep no
    snapshot) when anything else is there, or the server cannot be reached."""
    from .admin import connect_admin

    try:
        with connect_admin(server_dsn) as admin:
            others = [r[0] for r in admin.execute(
                "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1', %s)",
                (template,)).fetchall()]
            if any(not name.startswith(OWNED_PREFIX) for name in others):
                return False  # a database tddkit does not own: never copy it into the cache
            for gid, name in admin.execute("SELECT gid, database FROM pg_prepared_xacts").fetchall():
                if name not in others:
                    return False
                with psycopg.connect(make_conninfo(server_dsn, dbname=name), autocommit=True) as conn:
                    conn.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))
            for name in others:
                drop_database(admin, name, strict=True)
    except (psycopg.Error, TddkitError):
        return False  # a database tddkit cannot prove it made, too
    return True
