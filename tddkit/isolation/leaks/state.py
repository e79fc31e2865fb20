"""What changed in a database's committed state since an exported snapshot: objects created, altered or
dropped, and tables whose rows changed.

Both states are read on a connection of its own, in two read-only
repeatable-read transactions: the current one, and one that imports the
snapshot (``SET TRANSACTION SNAPSHOT``; its exporter must still be open).
Uncommitted work, the exporter's included, is in neither. Catalog rows are
compared as text (whole rows; pg_class without its statistics and storage
columns); a table's rows by their count and a hash of their versions
(``ctid``, ``xmin``), and its storage by ``relfilenode``, since a TRUNCATE
empties the table for old snapshots too. Temporary objects are left out,
and the rows of a table locked exclusively (an ALTER not yet committed, the
exporter's own DDL) or that the role may not read are not read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

#: Namespaces whose objects are the database's own (not the system's, not a session's temporary ones).
_USER_NAMESPACES = r"""
SELECT oid, nspname FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'"""

#: A relation's rows in the catalogs that describe it.
_ABOUT_RELATION = [
    ("pg_attribute", "attrelid", "attnum"), ("pg_attrdef", "adrelid", "oid"), ("pg_constraint", "conrelid", "oid"),
    ("pg_trigger", "tgrelid", "oid"), ("pg_rewrite", "ev_class", "oid"), ("pg_policy", "polrelid", "oid"),
    ("pg_index", "indexrelid", "indexrelid"), ("pg_sequence", "seqrelid", "seqrelid"),
    ("pg_inherits", "inhrelid", "inhseqno"), ("pg_statistic_ext", "stxrelid", "oid"),
    ("pg_partitioned_table", "partrelid", "partrelid"),
]

#: The other per-database catalogs that hold user objects (those past the system's OIDs), and their kind.
OTHER_CATALOGS = {
    "pg_cast": "CAST", "pg_operator": "OPERATOR", "pg_opclass": "OPERATOR CLASS", "pg_opfamily": "OPERATOR FAMILY",
    "pg_amop": "OPERATOR CLASS MEMBER", "pg_amproc": "OPERATOR CLASS MEMBER", "pg_collation": "COLLATION",
    "pg_conversion": "CONVERSION", "pg_ts_config": "TEXT SEARCH CONFIGURATION", "pg_ts_dict": "TEXT SEARCH DICTIONARY",
    "pg_ts_parser": "TEXT SEARCH PARSER", "pg_ts_template": "TEXT SEARCH TEMPLATE", "pg_language": "LANGUAGE",
    "pg_foreign_data_wrapper": "FOREIGN DATA WRAPPER", "pg_foreign_server": "SERVER", "pg_am": "ACCESS METHOD",
    "pg_user_mapping": "USER MAPPING", "pg_publication": "PUBLICATION", "pg_default_acl": "DEFAULT PRIVILEGES",
    "pg_transform": "TRANSFORM", "pg_event_trigger": "EVENT TRIGGER", "pg_largeobject_metadata": "LARGE OBJECT",
}

_RELATION_PARTS = "".join(
    f",\n        (SELECT string_agg(x::text, ',' ORDER BY x.{order}) FROM {catalog} x WHERE x.{key} = c.oid)"
    for catalog, key, order in _ABOUT_RELATION)

#: Every object: (catalog, oid, kind, name, signature, relfilenode, whether its rows are read).
OBJECTS = f"""
WITH ns AS ({_USER_NAMESPACES}),
locked AS MATERIALIZED (SELECT relation FROM pg_locks WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
                        AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
SELECT 'pg_class', c.oid, c.relkind::text, format('%I.%I', ns.nspname, c.relname), md5(concat_ws(E'\\n',
        (to_jsonb(c) - ARRAY['relpages', 'reltuples', 'relallvisible', 'relallfrozen', 'relfrozenxid',
                             'relminmxid', 'relfilenode'])::text{_RELATION_PARTS},
        (SELECT string_agg(x::text, ',' ORDER BY x.objsubid) FROM pg_description x
         WHERE x.objoid = c.oid AND x.classoid = 'pg_class'::regclass))),
       c.relfilenode, (c.relkind = 'r' OR (c.relkind = 'm' AND c.relispopulated))
                      AND c.oid NOT IN (SELECT relation FROM locked) AND has_table_privilege(c.oid, 'SELECT')
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relpersistence <> 't' AND c.relkind <> 't'
UNION ALL
SELECT 'pg_namespace', n.oid, 'n', quote_ident(n.nspname), md5(n::text), 0, false
FROM pg_namespace n JOIN ns USING (oid)
UNION ALL
SELECT 'pg_proc', p.oid, p.prokind::text, format('%I.%I', ns.nspname, p.proname), md5(p::text), 0, false
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
UNION ALL
SELECT 'pg_type', t.oid, t.typtype::text, format('%I.%I', ns.nspname, t.typname), md5(concat_ws(E'\\n', t::text,
        (SELECT string_agg(x::text, ',' ORDER BY x.oid) FROM pg_enum x WHERE x.enumtypid = t.oid),
        (SELECT string_agg(x::text, ',' ORDER BY x.oid) FROM pg_constraint x WHERE x.contypid = t.oid))), 0, false
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
WHERE t.typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
UNION ALL
SELECT 'pg_extension', e.oid, '', quote_ident(e.extname), md5(e::text), 0, false FROM pg_extension e
""" + "".join(f"UNION ALL\nSELECT '{catalog}', x.oid, '', x.oid::text, md5(x::text), 0, false FROM {catalog} x "
              "WHERE x.oid >= 16384\n" for catalog in OTHER_CATALOGS)

#: The kind of each object, by catalog and its kind column.
KINDS = {
    ("pg_class", "r"): "TABLE", ("pg_class", "p"): "TABLE", ("pg_class", "i"): "INDEX", ("pg_class", "I"): "INDEX",
    ("pg_class", "S"): "SEQUENCE", ("pg_class", "v"): "VIEW", ("pg_class", "m"): "MATERIALIZED VIEW",
    ("pg_class", "c"): "TYPE", ("pg_class", "f"): "FOREIGN TABLE", ("pg_namespace", "n"): "SCHEMA",
    ("pg_proc", "f"): "FUNCTION", ("pg_proc", "w"): "FUNCTION", ("pg_proc", "p"): "PROCEDURE",
    ("pg_proc", "a"): "AGGREGATE", ("pg_type", "d"): "DOMAIN", ("pg_extension", ""): "EXTENSION",
}

Key = tuple[str, int]
#: (kind, name, signature, relfilenode, whether its rows are read) of each object.
Objects = dict[Key, tuple[str, str, str, int, bool]]


def changed_since(dsn: str, snapshot: str) -> str:
    """What committed changes the database at ``dsn`` shows since ``snapshot``, for the error ("" if none):
    DDL (``ALTER TABLE public.t``, then ``CREATE ...``, ``DROP ...``), then ``writes to`` the tables."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '1s'")
        with read_only(conn):
            now = objects(conn)
            tables = {key: value[1] for key, value in now.items() if value[4]}
            rows_now = row_hashes(conn, tables)
        with read_only(conn, snapshot):
            then = objects(conn)
            same_storage = {key: name for key, name in tables.items() if key in then and then[key][3] == now[key][3]}
            rows_then = row_hashes(conn, same_storage)
    both = now.keys() & then.keys()
    ddl = sorted(f"ALTER {describe(key, now)}" for key in both if now[key][2] != then[key][2])
    ddl += sorted(f"CREATE {describe(key, now)}" for key in now.keys() - both)
    ddl += sorted(f"DROP {describe(key, then)}" for key in then.keys() - both)
    written = sorted(name for key, name in tables.items() if key in both and (  # a new storage: TRUNCATE, a rewrite
        rows_now[key] != rows_then[key] if key in same_storage else now[key][2] == then[key][2]))
    return "; ".join(([", ".join(ddl)] if ddl else []) + ([f"writes to {', '.join(written)}"] if written else []))


@contextlib.contextmanager
def read_only(conn: psycopg.Connection, snapshot: str | None = None) -> Iterator[None]:
    """A read-only repeatable-read transaction on ``conn`` (in autocommit), as of ``snapshot`` when given."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        if snapshot is not None:
            conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'".encode())
        yield
    finally:
        conn.execute("ROLLBACK")


def objects(conn: psycopg.Connection) -> Objects:
    """Every object of the database, as its transaction sees it."""
    return {(str(catalog), int(oid)): (str(kind), str(name), str(signature), int(filenode), bool(read))
            for catalog, oid, kind, name, signature, filenode, read in conn.execute(OBJECTS.encode()).fetchall()}


def row_hashes(conn: psycopg.Connection, tables: dict[Key, str]) -> dict[Key, tuple[int, int]]:
    """Per table: how many rows its transaction sees, and a hash of their versions."""
    if not tables:
        return {}
    keys = list(tables)
    query = "\nUNION ALL\n".join(
        f"SELECT {i}, count(*), coalesce(sum(hashtext(ctid::text || ':' || xmin::text)), 0) FROM ONLY {tables[key]}"
        for i, key in enumerate(keys))
    return {keys[i]: (int(count), int(total)) for i, count, total in conn.execute(query.encode()).fetchall()}


def describe(key: Key, found: Objects) -> str:
    """``TABLE public.users``: an object's kind and name."""
    kind, name = found[key][0], found[key][1]
    return f"{OTHER_CATALOGS.get(key[0]) or KINDS.get((key[0], kind), 'TYPE')} {name}"
