"""Application code inside the test's transaction: self.pool, SQLAlchemy, self.dsn and the leak check."""

import importlib.util
import os
import sys
import unittest
from pathlib import Path
from unittest import mock

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.conninfo import make_conninfo

import tddkit
from tddkit.isolation.leaks import triggers as leak_triggers
from tests.cases import application
from tests.support import admin_connection, problems_by_name, run_suite, suite_of, users_in_database

HAVE_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None


class JoinedPoolTests(unittest.TestCase):
    def test_every_joined_behaviour(self):
        result = run_suite(unittest.TestSuite([suite_of(application.JoinedPool),
                                               suite_of(application.AfterJoinedPool)]))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 13)
        self.assertEqual(users_in_database(), [])

    def test_autocommit_and_raw_commit_say_what_to_do_instead(self):
        run_suite(suite_of(application.JoinedPool, "test_k_autocommit_and_raw_commit_are_explained"))
        self.assertIn("call commit(), which tddkit keeps within the test", application.SEEN["autocommit"])
        self.assertIn("call conn.commit() / conn.rollback() instead", application.SEEN["raw"])

    def test_the_pool_outside_a_test_is_a_clear_error(self):
        with self.assertRaises(tddkit.TddkitError) as caught:
            _ = application.PoolOutsideTests.pool  # the attribute access raises
        self.assertIn("exists once setUpClass has run", str(caught.exception))
        result = run_suite(suite_of(application.PoolOutsideTests))
        self.assertTrue(result.wasSuccessful(), result.output)
        with self.assertRaises(tddkit.TddkitError) as caught:
            application.SEEN["pool"].getconn()
        self.assertIn("was used outside a test", str(caught.exception))

    def test_statements_of_app_code_are_in_the_test_metrics(self):
        result = run_suite(suite_of(application.JoinedPool, "test_i_statements_through_the_pool_are_counted_but_"
                                                            "not_its_savepoints"))
        self.assertTrue(result.wasSuccessful(), result.output)
        self.assertEqual(result.test_metrics[0].query_count, 2)


class CommitAsSavepointTests(unittest.TestCase):
    def test_commit_and_rollback_of_self_conn_act_as_the_pool_connections(self):
        result = run_suite(suite_of(application.CommitAsSavepoint))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(users_in_database(), [])

    def test_the_guard_names_both_ways_out(self):
        result = run_suite(suite_of(application.JoinedPool, "test_j_self_conn_keeps_its_guard"))
        self.assertTrue(result.wasSuccessful(), result.output)
        self.assertIn("hand it self.pool", application.SEEN["guard"])
        self.assertIn("commit_as_savepoint = True", application.SEEN["guard"])


class LeakCheckTests(unittest.TestCase):
    def test_a_commit_on_another_connection_fails_its_test_and_later_tests_pass(self):
        result = run_suite(unittest.TestSuite([suite_of(application.CommitsOnItsOwnConnection),
                                               suite_of(application.AfterTheLeak)]))
        bad = problems_by_name(result)
        self.assertEqual(list(bad), ["test_a_leaks_a_committed_row"], result.output)
        [message] = bad["test_a_leaks_a_committed_row"]
        self.assertIn("IsolationError: another connection committed changes during this test: writes to public.users",
                      message)
        self.assertIn("self.pool", message)
        self.assertEqual(result.testsRun, 4)
        self.assertEqual(users_in_database(), [], "the database is back to the template's state")

    def test_ddl_committed_by_another_connection_fails_its_test_and_later_tests_see_the_template(self):
        result = run_suite(unittest.TestSuite([suite_of(application.ChangesTheSchemaOnItsOwnConnection),
                                               suite_of(application.AfterTheLeak)]))
        bad = problems_by_name(result)
        self.assertEqual(list(bad), ["test_a_commits_ddl"], result.output)
        [message] = bad["test_a_commits_ddl"]
        self.assertIn("IsolationError: another connection committed changes during this test", message)
        for change in ("ALTER TABLE public.users", "CREATE TABLE public.after_tpl",
                       "DROP INDEX public.orders_user_id_status_idx"):
            self.assertIn(change, message)
        self.assertEqual(result.testsRun, 5)
        with admin_connection() as conn:
            self.assertEqual(application.schema_seen(conn), application.TEMPLATE_SCHEMA)

    def test_rows_committed_to_a_table_made_after_the_template_fail_their_test(self):
        with admin_connection() as conn:
            conn.execute("CREATE TABLE after_tpl (id int)")  # outside any test: not a test's leak
        self.addCleanup(drop_after_tpl)
        result = run_suite(suite_of(application.WritesToATableMadeAfterTheTemplate))
        bad = problems_by_name(result)
        self.assertEqual(list(bad), ["test_a_commits_a_row_to_it"], result.output)
        self.assertIn("another connection committed changes during this test: writes to public.after_tpl",
                      bad["test_a_commits_a_row_to_it"][0])
        with admin_connection() as conn:
            self.assertEqual(application.schema_seen(conn), application.TEMPLATE_SCHEMA)

    def test_without_a_superuser_the_check_installs_and_still_sees_writes(self):
        """Event triggers need a superuser: for another role the template gets the write check alone."""
        server_dsn = tddkit.get_session().server_dsn
        name = f"leakcheck_plain_role_{os.getpid()}"
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER')
            admin.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')

        def drop_both():
            with psycopg.connect(server_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.execute(f'DROP ROLE "{name}"')

        self.addCleanup(drop_both)
        with psycopg.connect(make_conninfo(server_dsn, dbname=name, user=name), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int)")
            leak_triggers.install(conn)
            self.assertEqual(conn.execute("SELECT evtname FROM pg_event_trigger").fetchall(), [])
            conn.execute("ALTER TABLE t ADD COLUMN x int")
            conn.execute("INSERT INTO t VALUES (1)")
            self.assertEqual(conn.execute("SELECT what, ddl FROM tddkit_leak.writes").fetchall(), [("public.t", False)])


def drop_after_tpl():
    with admin_connection() as conn:
        conn.execute("DROP TABLE IF EXISTS after_tpl")


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class SQLAlchemyTests(unittest.TestCase):
    def test_the_shop_orm_examples(self):
        from examples import test_shop_orm

        result = run_suite(suite_of(test_shop_orm.ShopOrmTests))
        self.assertEqual(problems_by_name(result), {}, result.output)
        self.assertEqual(result.testsRun, 5)
        self.assertEqual(users_in_database(), [])


class WithoutSQLAlchemyTests(unittest.TestCase):
    def test_the_error_says_what_to_install(self):
        from tddkit.integrations import sqlalchemy as bridge

        with mock.patch.dict(sys.modules, {"sqlalchemy": None}):
            with self.assertRaises(tddkit.TddkitError) as caught:
                bridge.session(None)
        self.assertIn("pip install 'tddkit[sqlalchemy]'", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
