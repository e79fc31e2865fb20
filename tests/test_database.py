"""TestDatabase: ownership, schema errors, the pool and its exhaustion."""

import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tddkit.config.settings import Settings
from tddkit.errors import ConfigError, OwnershipError, PoolExhaustedError, SchemaError, ServerError
from tddkit.isolation.lending import Lender
from tddkit.session.database import TestDatabase
from tddkit.session.ownership import ensure_owned
from tddkit.session.probe import ServerProbe
from tddkit.session.session import Session
from tddkit.session.template import BUILD_PREFIX


def server_dsn():
    return tddkit.get_session().server_dsn


def template():
    return tddkit.get_session()._template.name


def settings(**values):
    return Settings(root=str(Path.cwd()), **values)


class OwnershipTests(unittest.TestCase):
    def test_only_tddkit_prefixed_names_are_accepted(self):
        self.assertEqual(ensure_owned("tddkit_abc"), "tddkit_abc")
        for name in ("postgres", "template1", "myapp", "tddkitx"):
            with self.subTest(name=name), self.assertRaises(OwnershipError):
                ensure_owned(name)

    def test_test_database_refuses_a_database_it_does_not_own(self):
        with psycopg.connect(server_dsn(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE not_ours")
        try:
            with self.assertRaises(OwnershipError) as caught:
                TestDatabase(settings(), server_dsn(), name="not_ours").create(template())
            self.assertIn("only touches databases whose names start with 'tddkit_'", str(caught.exception))
            with psycopg.connect(server_dsn(), autocommit=True) as admin:
                exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = 'not_ours'").fetchone()
            self.assertIsNotNone(exists, "the database it does not own must still exist")
        finally:
            with psycopg.connect(server_dsn(), autocommit=True) as admin:
                admin.execute("DROP DATABASE IF EXISTS not_ours")

    def test_created_database_is_dropped_on_drop(self):
        database = TestDatabase(settings(pool_min_size=0), server_dsn()).create(template())
        name = database.name
        database.drop()
        with psycopg.connect(server_dsn(), autocommit=True) as admin:
            self.assertIsNone(admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone())


class SchemaTests(unittest.TestCase):
    def test_bad_sql_names_file_line_and_message_and_leaves_no_database(self):
        with tempfile.TemporaryDirectory() as tmp:
            schema = Path(tmp) / "schema.sql"
            schema.write_text("CREATE TABLE a (id int);\n\nCREATE TABLE b (id int,\n  oops notatype);\n")
            session = Session(Settings(root=tmp, schema=["schema.sql"], dsn=server_dsn()))
            with self.assertRaises(SchemaError) as caught:
                session._start()
        message = str(caught.exception)
        self.assertIn("schema.sql:4", message)
        self.assertIn('type "notatype" does not exist', message)
        self.assertIsNone(session._database)
        with psycopg.connect(server_dsn(), autocommit=True) as admin:
            self.assertIsNone(admin.execute("SELECT 1 FROM pg_database WHERE datname LIKE %s",
                                            (f"{BUILD_PREFIX}{session._schema.project}%",)).fetchone())

    def test_missing_schema_file(self):
        with self.assertRaises(ConfigError) as caught:
            Session(settings(schema=["no/such.sql"], dsn=server_dsn()))._start()
        self.assertIn("schema file not found", str(caught.exception))


class PoolTests(unittest.TestCase):
    def test_exhaustion_names_the_setting_to_raise(self):
        database = TestDatabase(settings(pool_min_size=1, pool_max_size=1, pool_timeout=0.2),
                                server_dsn()).create(template())
        lender = Lender(database, ServerProbe(server_dsn()))
        try:
            held = lender.getconn()
            with self.assertRaises(PoolExhaustedError) as caught:
                lender.getconn()
            self.assertIn("pool_max_size", str(caught.exception))
            lender.putconn(held)
            lender.putconn(lender.getconn())  # usable again once returned
        finally:
            database.drop()

    def test_statement_timeout_is_set_per_connection(self):
        database = TestDatabase(settings(pool_min_size=1, statement_timeout=0.2), server_dsn()).create(template())
        try:
            with database.pool.connection() as conn:
                self.assertEqual(conn.execute("SHOW statement_timeout").fetchone(), ("200ms",))
                with self.assertRaises(psycopg.errors.QueryCanceled):
                    conn.execute("SELECT pg_sleep(2)")
        finally:
            database.drop()


class FixedNameTests(unittest.TestCase):
    def test_a_second_run_with_the_same_database_name_is_refused_not_killed(self):
        first = TestDatabase(settings(pool_min_size=1, database="tddkit_fixed_name"), server_dsn()).create(template())
        try:
            with self.assertRaises(ConfigError) as caught:
                TestDatabase(settings(database="tddkit_fixed_name"), server_dsn()).create(template())
            self.assertIn("'tddkit_fixed_name' is in use by another session", str(caught.exception))
            with first.pool.connection() as conn:  # the first run's database and connections are intact
                self.assertEqual(conn.execute("SELECT current_database()").fetchone(), ("tddkit_fixed_name",))
        finally:
            first.drop()

    def test_a_database_left_by_an_earlier_run_is_replaced(self):
        left = TestDatabase(settings(pool_min_size=0, database="tddkit_left_over"), server_dsn()).create(template())
        self.addCleanup(left.drop)
        with psycopg.connect(left.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE left_by_the_earlier_run (id int)")
        left.close_pool()  # the earlier run is gone; its database stays
        again = TestDatabase(settings(pool_min_size=0, database="tddkit_left_over"), server_dsn()).create(template())
        self.addCleanup(again.drop)
        with psycopg.connect(again.dsn, autocommit=True) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        self.assertNotIn("left_by_the_earlier_run", tables)  # a fresh clone of the template
        self.assertIn("users", tables)


class ConnectionErrorTests(unittest.TestCase):
    def test_unreachable_server(self):
        with self.assertRaises(ServerError) as caught:
            Session(settings(dsn="host=127.0.0.1 port=1 user=postgres dbname=postgres"))._start()
        self.assertIn("cannot connect to PostgreSQL", str(caught.exception))

    def test_malformed_dsn(self):
        with self.assertRaises(ConfigError):
            Session(settings(dsn="postgresql://[broken"))._start()


if __name__ == "__main__":
    unittest.main()
