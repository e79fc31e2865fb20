"""The leak check by triggers, for servers that do not track commit timestamps (see the package docstring).

Statement-level triggers on every table of the schema template log the
table a statement wrote, and database-level event triggers log each DDL
command (``ALTER TABLE public.users``), unless the session is a tddkit class
transaction (it sets ``tddkit.isolated`` for its transaction only). A table
another session creates gets the write trigger too. The log is a small
unlogged table; a logged row becomes visible to the test's connection only
when the writer commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

    from ..connection import GuardedConnection

SCHEMA = "tddkit_leak"

#: What is installed in the schema template (its text is part of the template's hash).
INSTALL = f"""
CREATE SCHEMA {SCHEMA};
CREATE UNLOGGED TABLE {SCHEMA}.writes (
    id bigint GENERATED ALWAYS AS IDENTITY,
    what text NOT NULL,
    ddl boolean NOT NULL DEFAULT false,
    backend_pid int NOT NULL DEFAULT pg_backend_pid()
);
CREATE FUNCTION {SCHEMA}.note_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('tddkit.isolated', true) IS DISTINCT FROM 'on' THEN
        INSERT INTO {SCHEMA}.writes (what) VALUES (format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION {SCHEMA}.watch_table(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER tddkit_leak_check AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.note_write()', t);
END $$;
SELECT {SCHEMA}.watch_table(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', '{SCHEMA}')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%';
CREATE FUNCTION {SCHEMA}.note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    named boolean := false;
    other boolean := false;
BEGIN
    IF current_setting('tddkit.isolated', true) = 'on' THEN
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        INSERT INTO {SCHEMA}.writes (what, ddl) SELECT concat_ws(' ', TG_TAG, object_identity), true
        FROM pg_event_trigger_dropped_objects() WHERE original AND NOT is_temporary;
        RETURN;
    END IF;
    FOR r IN SELECT command_tag, object_type, objid, object_identity FROM pg_event_trigger_ddl_commands()
             WHERE schema_name IS DISTINCT FROM 'pg_temp' AND NOT in_extension LOOP
        CONTINUE WHEN r.command_tag = 'CREATE TRIGGER' AND r.object_identity LIKE 'tddkit_leak_check on %';
        IF r.command_tag = TG_TAG THEN
            INSERT INTO {SCHEMA}.writes (what, ddl) VALUES (concat_ws(' ', r.command_tag, r.object_identity), true);
            named := true;
        ELSE
            other := true;
        END IF;
        IF r.object_type = 'table' AND r.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') THEN
            BEGIN
                PERFORM {SCHEMA}.watch_table(r.objid::regclass);
            EXCEPTION WHEN OTHERS THEN
                NULL;  -- the command is logged: its test fails either way
            END;
        END IF;
    END LOOP;
    IF other AND NOT named THEN
        INSERT INTO {SCHEMA}.writes (what, ddl) VALUES (TG_TAG, true);
    END IF;
END $$;
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN  -- event triggers need a superuser
        CREATE EVENT TRIGGER tddkit_leak_ddl ON ddl_command_end EXECUTE FUNCTION {SCHEMA}.note_ddl();
        CREATE EVENT TRIGGER tddkit_leak_drop ON sql_drop EXECUTE FUNCTION {SCHEMA}.note_ddl();
    END IF;
END $$;
"""

#: Run at the start of a class transaction: its own writes are not leaks; what was logged before is not
#: this scope's (the log's high-water mark is the second column).
MARK_ISOLATED = (b"SELECT set_config('tddkit.isolated', 'on', true), "
                 b"coalesce((SELECT max(id) FROM " + SCHEMA.encode() + b".writes), 0)")


def install(conn: psycopg.Connection) -> None:
    """Install the log table, the trigger functions, a trigger on every table and (as a superuser) the event
    triggers (in the template)."""
    conn.execute(INSTALL.encode(), prepare=False)


class TriggerWatch:
    """The check of one class transaction: the log's rows since the transaction began."""

    def __init__(self) -> None:
        self.mark = 0

    def begin(self, cursor: psycopg.Cursor) -> None:
        """Mark the class transaction isolated and note the log's high-water mark (its first statement)."""
        cursor.execute(MARK_ISOLATED, prepare=False)
        row = cursor.fetchone()
        self.mark = int(row[1]) if row else 0

    def probe(self) -> bytes:
        """The expression read after each test's rollback: whether anything was logged since the mark."""
        return b"EXISTS (SELECT 1 FROM %s.writes WHERE id > %d)" % (SCHEMA.encode(), self.mark)

    def changes(self, value: bytes | None, conn: GuardedConnection) -> str | None:
        """What was logged since the mark, when the probe found something (else None)."""
        if value != b"t":
            return None
        return changes_since(conn._tddkit.internal_cursor(), self.mark)


def changes_since(cursor: psycopg.Cursor, mark: int) -> str:
    """What was logged since ``mark``, for the error: DDL commands in order, then the tables written."""
    row = cursor.execute(
        f"SELECT string_agg(what, ', ' ORDER BY first) FILTER (WHERE ddl), "
        f"string_agg(what, ', ' ORDER BY what) FILTER (WHERE NOT ddl) "
        f"FROM (SELECT what, ddl, min(id) AS first FROM {SCHEMA}.writes WHERE id > %s GROUP BY what, ddl) AS c",
        (mark,)).fetchone()
    ddl, tables = row if row else (None, None)
    parts = ([ddl] if ddl else []) + ([f"writes to {tables}"] if tables else [])
    return "; ".join(parts) or "writes to a table"
