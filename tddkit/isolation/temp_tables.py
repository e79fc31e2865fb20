"""Temp-table templates and the SchemaCache that saves their DDL.

A test asks for a temp table by template name (``create_temp_table``). The
first request is a miss: the table is created inside the test and rolled back
with it. From then on, whenever a class takes a connection from the pool, the
requested tables are created once on that connection, outside any test
transaction (temp tables live as long as the connection). A later request on
such a connection is a hit: no DDL, the table is already there and empty
(every test's rows are rolled back), and its serial sequences are reset.
"""

from __future__ import annotations

import dataclasses
import threading

from psycopg import sql

from .connection import GuardedConnection

#: Built-in templates (the performance guide's): name -> column definitions.
TABLE_TEMPLATES: dict[str, str] = {
    "user_table": "id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, "
    "created_at timestamptz NOT NULL DEFAULT now()",
    "order_table": "id serial PRIMARY KEY, user_id integer NOT NULL, total numeric(10,2) NOT NULL DEFAULT 0, "
    "status text NOT NULL DEFAULT 'new', created_at timestamptz NOT NULL DEFAULT now()",
}

_SEQUENCES_OF = """
SELECT s.seq FROM (
    SELECT pg_get_serial_sequence(format('pg_temp.%%I', %s::text), attname) AS seq
    FROM pg_attribute
    WHERE attrelid = format('pg_temp.%%I', %s::text)::regclass AND attnum > 0 AND NOT attisdropped
) s WHERE s.seq IS NOT NULL
"""


def create_table_sql(table: str, columns: str) -> sql.Composed:
    return sql.SQL("CREATE TEMP TABLE {} ({})").format(sql.Identifier(table), sql.SQL(columns))


@dataclasses.dataclass
class CachedTable:
    """A temp table kept on one connection."""

    columns: str
    reset: sql.Composed | None  # restarts its serial sequences; None when it has none


class SchemaCache:
    """Counts temp-table requests and keeps requested tables on pooled connections."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.tables_kept = 0
        self._wanted: dict[str, str] = {}
        self._lock = threading.Lock()

    def stats(self) -> dict[str, float]:
        """hits, misses, requests, efficiency (% hits), ddl_saved, tables_kept."""
        return self.since({"hits": 0, "misses": 0, "tables_kept": 0})

    def since(self, before: dict[str, float]) -> dict[str, float]:
        """Stats of what happened after ``before`` (an earlier ``stats()``)."""
        hits, misses = self.hits - before["hits"], self.misses - before["misses"]
        requests = hits + misses
        return {"requests": requests, "hits": hits, "misses": misses,
                "efficiency": 100.0 * hits / requests if requests else 0.0, "ddl_saved": hits,
                "tables_kept": self.tables_kept - before["tables_kept"]}

    def prepare(self, conn: GuardedConnection) -> None:
        """Create the wanted tables this idle connection lacks, outside any test transaction.

        The first time, also create the connection's temp schema: made inside a
        test, it would be rolled back with it and made again by every test.
        """
        cursor = conn._tddkit.internal_cursor()
        kept = conn._tddkit.temp_tables
        if kept is None:
            kept = conn._tddkit.temp_tables = {}
            cursor.execute(b"CREATE TEMP TABLE tddkit_temp_schema (); DROP TABLE tddkit_temp_schema", prepare=False)
            conn.commit()
        with self._lock:
            missing = [(t, c) for t, c in self._wanted.items() if t not in kept]
        if not missing:
            return
        for table, columns in missing:
            cursor.execute(create_table_sql(table, columns))
            sequences = [r[0] for r in cursor.execute(_SEQUENCES_OF, (table, table)).fetchall()]
            reset = sql.SQL("SELECT {}").format(sql.SQL(", ").join(
                sql.SQL("setval({}, 1, false)").format(sql.Literal(s)) for s in sequences)) if sequences else None
            kept[table] = CachedTable(columns, reset)
        conn.commit()
        with self._lock:
            self.tables_kept += len(missing)

    def create(self, conn: GuardedConnection, table: str, columns: str) -> bool:
        """Provide temp table ``table`` for the running test; True on a cache hit (no DDL)."""
        cached = (conn._tddkit.temp_tables or {}).get(table)
        with self._lock:
            hit = cached is not None and cached.columns == columns
            if hit:
                self.hits += 1
            else:
                self.misses += 1
                self._wanted.setdefault(table, columns)
        if hit and cached is not None:
            if cached.reset is not None:
                conn._tddkit.internal_cursor().execute(cached.reset)  # framework statement: not counted
            return True
        if cached is not None:  # same name, other columns: replace it for this test only
            conn.execute(sql.SQL("DROP TABLE pg_temp.{}").format(sql.Identifier(table)))
        conn.execute(create_table_sql(table, columns))
        return False


#: The process-wide cache used by TDDTestCase.
schema_cache = SchemaCache()


def resolve_template(name: str, *extra: dict[str, str]) -> tuple[str, str]:
    """(name, columns) of a template from the built-ins overlaid by ``extra`` dicts."""
    templates: dict[str, str] = dict(TABLE_TEMPLATES)
    for more in extra:
        templates.update(more)
    try:
        return name, templates[name]
    except KeyError:
        raise ValueError(
            f"unknown table template {name!r}; known: {', '.join(sorted(templates))}. "
            "Add one with [tool.tddkit.table_templates] or the class attribute table_templates"
        ) from None
