"""The leak check: writes that another connection commits to the test database during a test.

Statement-level triggers on every table of the schema template log the
table a statement wrote, unless the writing session is a tddkit class
transaction (it sets ``tddkit.isolated`` for its transaction only). The log
is a small unlogged table; a logged row becomes visible to the test's
connection only when the writer commits. After each test the check is sent
with the ``ROLLBACK TO SAVEPOINT`` (one round trip): any row means a write
escaped the test's transaction. The test then fails with IsolationError and
the database is cloned again from the template, so later tests are
unaffected. Cost on the normal path: one statement in the existing round
trip per test, and a trigger call per write statement. Writes that bypass
triggers (``session_replication_role = replica``, tables created after the
template) are not seen; ``leak_check = false`` turns it off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import IsolationError

if TYPE_CHECKING:
    import psycopg

SCHEMA = "tddkit_leak"

#: What is installed in the schema template (its text is part of the template's hash).
INSTALL = f"""
CREATE SCHEMA {SCHEMA};
CREATE UNLOGGED TABLE {SCHEMA}.writes (
    id bigint GENERATED ALWAYS AS IDENTITY,
    table_name text NOT NULL,
    backend_pid int NOT NULL DEFAULT pg_backend_pid()
);
CREATE FUNCTION {SCHEMA}.note_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('tddkit.isolated', true) IS DISTINCT FROM 'on' THEN
        INSERT INTO {SCHEMA}.writes (table_name) VALUES (format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
    END IF;
    RETURN NULL;
END $$;
DO $$
DECLARE t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', '{SCHEMA}')
               AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
    LOOP
        EXECUTE format('CREATE TRIGGER tddkit_leak_check AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.note_write()', t);
    END LOOP;
END $$;
"""

#: Run at the start of a class transaction: its own writes are not leaks; what was logged before is not
#: this scope's (the log's high-water mark is the second column).
MARK_ISOLATED = (b"SELECT set_config('tddkit.isolated', 'on', true), "
                 b"coalesce((SELECT max(id) FROM " + SCHEMA.encode() + b".writes), 0)")


def rollback_and_check(mark: int, also: bytes = b"") -> bytes:
    """The per-test rollback (then ``also``) with the check in the same round trip: a row when anything was
    logged since ``mark`` (the last statement's result is the check's)."""
    return b"ROLLBACK TO SAVEPOINT tddkit_test%s; SELECT 1 FROM %s.writes WHERE id > %d LIMIT 1" % (
        also, SCHEMA.encode(), int(mark))


def tables_written_since(cursor: "psycopg.Cursor", mark: int) -> str:
    """The tables logged since ``mark`` (asked only once the check found something)."""
    row = cursor.execute(f"SELECT string_agg(DISTINCT table_name, ', ' ORDER BY table_name) FROM {SCHEMA}.writes "
                         "WHERE id > %s", (mark,)).fetchone()
    return row[0] if row and row[0] else "a table"


def mark(cursor: "psycopg.Cursor") -> int:
    """Run MARK_ISOLATED on ``cursor``; the log's high-water mark."""
    cursor.execute(MARK_ISOLATED, prepare=False)
    row = cursor.fetchone()
    return int(row[1]) if row else 0


def install(conn: "psycopg.Connection") -> None:
    """Install the log table, the trigger function and a trigger on every table (in the template)."""
    conn.execute(INSTALL.encode(), prepare=False)


def leak_error(tables: str) -> IsolationError:
    """The error of a test during which another connection committed writes."""
    return IsolationError(
        f"another connection committed writes to {tables} during this test, outside the test's transaction, "
        "so they would be seen by later tests. Run the code under test on the test's connection instead: "
        "self.pool (a ConnectionPool stand-in), self.sqlalchemy_session() / self.sqlalchemy_connection(), or "
        "commit_as_savepoint = True for code handed self.conn. tddkit cloned the test database again from the "
        "schema template, so later tests are unaffected (set leak_check = false to turn this check off)"
    )
