"""The comparisons of ``python -m tddkit bench``: the per-test setup and cleanup of the approaches users
otherwise pick (a fresh schema, TRUNCATE, a database per test), timed on the same server as tddkit."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ..config.settings import OWNED_PREFIX, Settings
from ..session.admin import connect_admin
from ..session.database import TestDatabase
from ..session.ownership import create_database, database_comment, drop_database, ensure_owned, mark_owner
from ..session.schema import SchemaSource
from .report import Comparison

#: Schema the comparisons rebuild when the project configures none: package data (the examples' schema),
#: so an installed tddkit has it.
BENCH_SCHEMA = resources.files("tddkit") / "data" / "bench_schema.sql"

@contextmanager
def _comparison_schema(settings: Settings) -> Iterator[SchemaSource]:
    """The schema the comparisons rebuild: the project's, else the one shipped with tddkit."""
    source = SchemaSource.from_settings(settings)
    if source.files or source.hook or source.alembic:
        yield source
        return
    with resources.as_file(BENCH_SCHEMA) as path:
        yield dataclasses.replace(source, files=[path])


def _approaches(admin: psycopg.Connection, dsn: str, source: SchemaSource,
                clone: str) -> list[tuple[str, str, Callable[[], None]]]:
    """(name, what it does per test, a function doing it) of each approach compared with tddkit."""
    with psycopg.connect(dsn) as conn:
        template = conn.info.dbname
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
    truncate = sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
        sql.SQL(", ").join(sql.Identifier(*table) for table in tables))
    create_clone = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(clone), sql.Identifier(template))
    drop_clone = sql.SQL("DROP DATABASE {}").format(sql.Identifier(clone))

    def fresh_schema() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            source.apply_schema(conn)

    def truncate_tables() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(truncate)

    def clone_and_drop() -> None:
        admin.execute(create_clone)
        admin.execute(drop_clone)

    approaches = [("traditional", "new connection + DROP SCHEMA public CASCADE + CREATE SCHEMA + the schema",
                   fresh_schema)]
    if tables:
        approaches.append(("truncate", f"new connection + TRUNCATE of its {len(tables)} tables RESTART IDENTITY "
                                       "CASCADE", truncate_tables))
    approaches.append(("database per test", "CREATE DATABASE ... TEMPLATE + DROP DATABASE (no connection to it)",
                       clone_and_drop))
    return approaches


def run_comparisons(database: TestDatabase, count: int, baseline_ms: float,
                    time_calls: Callable[[Callable[[], None], int], list[float]]) -> list[Comparison]:
    """Time the other approaches' per-test setup + cleanup on a scratch database holding the schema
    (``time_calls(function, count)``: the ms of each call, as the rest of the benchmark times them)."""
    scratch = ensure_owned(f"{OWNED_PREFIX}bench_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    clone = f"{scratch}_copy"
    dsn = make_conninfo(database.server_dsn, dbname=scratch)
    with _comparison_schema(database.settings) as source, connect_admin(database.server_dsn) as admin:
        create_database(admin, scratch)
        try:
            with psycopg.connect(dsn) as conn:
                source.apply_schema(conn)
            return [Comparison(name, what, time_calls(function, count), baseline_ms)
                    for name, what, function in _approaches(admin, dsn, source, clone)]
        finally:
            if database_comment(admin, clone) is not None:  # an interrupted timing made it, under this run's name
                mark_owner(admin, clone)
            drop_database(admin, clone)
            drop_database(admin, scratch)


