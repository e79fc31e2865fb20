"""The leak check on a real server: invisible to the tests, and what it sees (commit tracking, or triggers)."""

import os
import subprocess
import sys
import unittest
from pathlib import Path
from unittest import mock

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.conninfo import make_conninfo

import tddkit
from tddkit.isolation.leaks import state
from tddkit.server.binaries import find_binaries
from tddkit.server.embedded import EmbeddedPostgres
from tddkit.server.settings import TEST_SERVER_SETTINGS
from tddkit.session.schema import SchemaSource
from tests.cases import application
from tests.support import (
    admin_connection,
    child_env,
    problems_by_name,
    run_cli,
    run_suite,
    suite_of,
    users_in_database,
)


def schema_only_database(test: unittest.TestCase) -> str:
    """The DSN of a new database on the session's server holding just what the schema source builds (dropped
    after ``test``)."""
    session = tddkit.get_session()
    name = f"schema_only_{os.getpid()}"
    with psycopg.connect(session.server_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(session.server_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    test.addCleanup(drop)
    dsn = make_conninfo(session.server_dsn, dbname=name)
    with psycopg.connect(dsn) as conn:
        SchemaSource.from_settings(session.settings).apply_schema(conn)
    return dsn


def schema_dump(dsn: str) -> list[str]:
    """``pg_dump --schema-only`` of the database at ``dsn``, without its per-dump random key lines."""
    pg_dump = tddkit.get_session()._binaries.path("pg_dump")
    done = subprocess.run([pg_dump, "--schema-only", "--dbname", dsn], capture_output=True, text=True,
                          env=child_env(), check=True, timeout=60)
    return [line for line in done.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]


class InvisibleTests(unittest.TestCase):
    def test_the_test_database_holds_exactly_what_the_schema_source_built(self):
        if tddkit.get_session()._binaries is None:
            self.skipTest("needs the embedded server (its pg_dump)")
        with admin_connection() as conn:
            seen = {
                "triggers": conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall(),
                "information_schema.triggers": conn.execute(
                    "SELECT trigger_name FROM information_schema.triggers").fetchall(),
                "event triggers": conn.execute("SELECT evtname FROM pg_event_trigger").fetchall(),
                "schemas": conn.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                                        "AND nspname <> 'information_schema' ORDER BY 1").fetchall(),
            }
        self.assertEqual(seen, {"triggers": [], "information_schema.triggers": [], "event triggers": [],
                                "schemas": [("public",)]})
        self.assertEqual(schema_dump(tddkit.get_session().dsn), schema_dump(schema_only_database(self)))


class CommittedWritesTests(unittest.TestCase):
    def test_a_committed_update_delete_or_truncate_fails_its_test(self):
        self.addCleanup(clear_users)
        for statement in ("UPDATE users SET name = 'changed'", "DELETE FROM users", "TRUNCATE users CASCADE"):
            with self.subTest(statement=statement):
                with admin_connection() as conn:  # outside any test: not a test's leak
                    conn.execute("INSERT INTO users (email, name) VALUES ('seed@example.org', 'seed')")
                with mock.patch.object(application.CommitsAWrite, "statement", statement):
                    result = run_suite(suite_of(application.CommitsAWrite))
                bad = problems_by_name(result)
                self.assertEqual(list(bad), ["test_commits_it"], result.output)
                self.assertRegex(bad["test_commits_it"][0], r"another connection committed changes during this "
                                                            r"test: writes to ([\w.]+, )*public\.users\.")
                self.assertEqual(users_in_database(), [], "cloned again from the template")

    def test_commits_that_change_nothing_in_the_test_database_pass(self):
        result = run_suite(suite_of(application.CommitsThatChangeNothingHere))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 3)


def clear_users():
    with admin_connection() as conn:
        conn.execute("DELETE FROM users")


#: Statements another connection commits, and what the check names (DDL, then the tables written).
CHANGES = [
    (["INSERT INTO users (email, name) VALUES ('a@example.org', 'a')"], "writes to public.users"),
    (["UPDATE products SET stock = 1"], "writes to public.products"),
    (["DELETE FROM products WHERE sku = 'b'"], "writes to public.products"),
    (["TRUNCATE order_items"], "writes to public.order_items"),
    (["ALTER TABLE users ADD COLUMN extra text", "CREATE TABLE after_tpl (id int)",
      "DROP INDEX orders_user_id_status_idx"],
     "ALTER TABLE public.users, CREATE TABLE public.after_tpl, DROP INDEX public.orders_user_id_status_idx"),
    (["CREATE TABLE made (id int)", "INSERT INTO made VALUES (1)"], "CREATE TABLE public.made"),
    (["INSERT INTO made VALUES (2)"], "writes to public.made"),
    (["CREATE OR REPLACE FUNCTION place_order(p_order_id bigint) RETURNS void LANGUAGE sql AS 'SELECT 1'"],
     "ALTER FUNCTION public.place_order"),
    (["ALTER TYPE order_status ADD VALUE 'lost'"], "ALTER TYPE public.order_status"),
    (["COMMENT ON TABLE products IS 'what we sell'"], "ALTER TABLE public.products"),
    (["CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)"], "CREATE OPERATOR "),
    (["SELECT lo_create(0)"], "CREATE LARGE OBJECT "),
    (["CREATE TEMP TABLE scratch (id int)", "INSERT INTO scratch VALUES (1)"], ""),
    (["SELECT nextval('users_id_seq')", "ANALYZE users", "SELECT pg_current_xact_id()"], ""),
    (["VACUUM FULL products"], "writes to public.products"),
]


class CommittedStateTests(unittest.TestCase):
    """``state.changed_since``: what committed changes it names, and what it leaves out."""

    def test_each_kind_of_change_is_named_and_temporary_objects_and_sequences_are_not(self):
        dsn = schema_only_database(self)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO products (sku, name, price) VALUES ('a', 'A', 1), ('b', 'B', 2)")
        for statements, named in CHANGES:
            with self.subTest(statements=statements), psycopg.connect(dsn) as watched:
                snapshot = watched.execute("SELECT pg_export_snapshot()").fetchone()[0]
                with psycopg.connect(dsn, autocommit=True) as other:
                    for statement in statements:
                        other.execute(statement)
                found = state.changed_since(dsn, snapshot)
                self.assertTrue(found.startswith(named) and bool(found) == bool(named), found)

    def test_a_table_locked_by_the_watched_transaction_is_not_read_and_uncommitted_work_is_not_seen(self):
        dsn = schema_only_database(self)
        with psycopg.connect(dsn) as watched:
            watched.execute("ALTER TABLE orders ADD COLUMN note text")  # held until the transaction ends
            snapshot = watched.execute("SELECT pg_export_snapshot()").fetchone()[0]
            watched.execute("INSERT INTO users (email, name) VALUES ('own@example.org', 'own')")
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute("INSERT INTO products (sku, name, price) VALUES ('c', 'C', 3)")
            self.assertEqual(state.changed_since(dsn, snapshot), "writes to public.products")


class TriggerFallbackTests(unittest.TestCase):
    def test_a_server_without_commit_tracking_gets_the_trigger_check(self):
        with mock.patch.dict(TEST_SERVER_SETTINGS, {"track_commit_timestamp": "off"}):
            server = EmbeddedPostgres(find_binaries()).start()
        self.addCleanup(server.stop)
        done = run_cli(["run", "tests.cases.application.CommitsOnItsOwnConnection",
                        "tests.cases.application.ChangesTheSchemaOnItsOwnConnection",
                        "tests.cases.application.CommitsThatChangeNothingHere", "--no-report", "--dsn", server.dsn])
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("another connection committed changes during this test: writes to public.users", done.stderr)
        self.assertIn("another connection committed changes during this test: ALTER TABLE public.users, CREATE "
                      "TABLE public.after_tpl, DROP INDEX public.orders_user_id_status_idx", done.stderr)
        self.assertIn("2 failed", done.stderr)
        with psycopg.connect(server.dsn) as conn:
            [template] = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tddkit\\_tpl\\_%'"
                                      ).fetchone()
        with psycopg.connect(make_conninfo(server.dsn, dbname=template)) as conn:
            self.assertEqual(conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'tddkit_leak_check'"
                                          ).fetchone()[0], 4, "one on each table of the schema")


if __name__ == "__main__":
    unittest.main()
