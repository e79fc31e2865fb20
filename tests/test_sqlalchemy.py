"""SQLAlchemy on the test's connection as real suites use it: sessions, connections and engines mixed in one test,
in any close order, and connections nobody closed, finalized by the garbage collector."""

import gc
import importlib.util
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tests.support import problems_by_name, run_suite, suite_of

HAVE_SQLALCHEMY = importlib.util.find_spec("sqlalchemy") is not None

if HAVE_SQLALCHEMY:
    from sqlalchemy import event, text

    from examples.shop.orm import User

USERS = text("SELECT email FROM users ORDER BY email")


def emails(connection) -> list[str]:
    return list(connection.execute(USERS).scalars())


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class SessionAndConnectionTests(tddkit.TDDTestCase):
    """What one test does with a Session and a Connection works as on separate production connections."""

    def test_a_session_with_a_flush_listener_commits_refreshes_and_a_second_connection_reads(self):
        session = self.sqlalchemy_session()
        flushed = []

        @event.listens_for(session, "before_flush")
        def audit(session, context, instances):  # the kind of listener audit libraries install
            flushed.append(len(session.new))
            session.execute(text("SELECT 1"))

        user = User(email="ada@example.com", name="Ada")
        session.add(user)
        session.commit()
        session.refresh(user)  # after commit: a new transaction of the session's
        with self.sqlalchemy_engine().begin() as other:  # "read through a second connection"
            self.assertEqual(emails(other), ["ada@example.com"])
        self.assertEqual(emails(self.sqlalchemy_connection()), ["ada@example.com"])
        self.assertEqual(flushed, [1])
        self.assertEqual(user.name, "Ada")

    def test_the_data_of_the_previous_test_is_gone(self):
        self.assertEqual(emails(self.sqlalchemy_connection()), [])

    def test_sessions_and_connections_from_the_engine_close_in_any_order(self):
        engine = self.sqlalchemy_engine()
        first = engine.connect()
        session = tddkit.integrations.sqlalchemy.session(first)
        session.add(User(email="s@example.com", name="S"))
        session.flush()
        session.begin_nested()  # a savepoint of the session's, above everything so far
        second = engine.connect()
        second.execute(text("INSERT INTO users (email, name) VALUES ('c@example.com', 'C')"))
        second.commit()
        first.close()  # under the session's savepoint and the second connection: nothing of theirs is undone
        session.close()
        self.assertEqual(emails(second), ["c@example.com", "s@example.com"])
        second.close()
        with engine.connect() as third:
            self.assertIn("c@example.com", emails(third))

    def test_a_rollback_undoes_only_its_own_units_work(self):
        engine = self.sqlalchemy_engine()
        with engine.begin() as committed:
            committed.execute(text("INSERT INTO users (email, name) VALUES ('kept@example.com', 'K')"))
        session = self.sqlalchemy_session()
        session.add(User(email="undone@example.com", name="U"))
        session.flush()
        session.rollback()
        self.assertEqual(emails(self.conn_as_sqlalchemy(engine)), ["kept@example.com"])

    def test_connection_begin_works_on_the_tests_connection(self):
        connection = self.sqlalchemy_connection()
        with connection.begin():  # upstream's "with connection.begin(): create_all(connection)"
            connection.execute(text("CREATE TABLE made_in_a_test (id int)"))
        session = self.sqlalchemy_session()
        session.execute(text("INSERT INTO made_in_a_test VALUES (1)"))
        session.commit()
        self.assertEqual(self.conn.execute("SELECT count(*) FROM made_in_a_test").fetchone(), (1,))

    def test_no_table_made_by_the_previous_test_is_left(self):
        self.assertIsNone(self.conn.execute("SELECT to_regclass('made_in_a_test')").fetchone()[0])

    def test_the_engine_is_one_per_run(self):
        self.assertIs(self.sqlalchemy_engine(), self.sqlalchemy_engine())
        with self.assertNumQueries(1):  # the dialect was initialised outside the test's count
            self.sqlalchemy_connection().execute(text("SELECT 1"))

    def conn_as_sqlalchemy(self, engine):
        connection = engine.connect()
        self.addCleanup(connection.close)
        return connection


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class GarbageCollectedConnectionTests(tddkit.TDDTestCase):
    """A Connection nobody closed (upstream fixtures return ``engine.connect()``) is finalized by the garbage
    collector at any moment: that never blocks, never errs, and never undoes the test's other work."""

    def forgotten_connection(self, email):
        """A Connection that wrote a row and that only a reference cycle keeps: the collector finalizes it."""
        connection = self.sqlalchemy_engine().connect()
        connection.execute(text("INSERT INTO users (email, name) VALUES (:email, 'forgotten')"), {"email": email})
        cycle = [connection]
        cycle.append(cycle)

    def test_finalized_during_another_query(self):
        self.forgotten_connection("gc@example.com")
        main = self.sqlalchemy_connection()
        main.execute(text("INSERT INTO users (email, name) VALUES ('main@example.com', 'M')"))
        collected = []
        # A notice arrives while the query runs (the connection's lock held): the collector runs right then.
        self.conn.add_notice_handler(lambda notice: collected.append(gc.collect()))
        self.conn.execute("DO $$BEGIN RAISE NOTICE 'collect now'; END$$")
        self.assertTrue(collected and collected[0] > 0, collected)
        self.assertIn("main@example.com", emails(main))
        main.commit()
        self.assertIn("main@example.com", emails(main))

    def test_finalized_between_queries_never_undoes_the_tests_newer_work(self):
        self.forgotten_connection("gc2@example.com")
        main = self.sqlalchemy_connection()
        main.execute(text("INSERT INTO users (email, name) VALUES ('newer@example.com', 'N')"))
        self.assertGreater(gc.collect(), 0)
        self.assertIn("newer@example.com", emails(main))

    def test_nothing_is_left_for_the_next_test(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class OwnEngineTests(tddkit.TDDTestCase):
    """An engine the test builds on self.pool (StaticPool), left to the collector with its Connection."""

    def test_an_engine_on_self_pool_finalized_during_a_query(self):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        engine = create_engine("postgresql+psycopg://", creator=self.pool.getconn, poolclass=StaticPool)
        connection = engine.connect()
        connection.execute(text("INSERT INTO users (email, name) VALUES ('own@example.com', 'O')"))
        cycle = [engine, connection]
        cycle.append(cycle)
        del engine, connection, cycle
        collected = []
        self.conn.add_notice_handler(lambda notice: collected.append(gc.collect()))
        self.conn.execute("DO $$BEGIN RAISE NOTICE 'collect now'; END$$")
        self.assertTrue(collected and collected[0] > 0, collected)
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (1,))


class SetUpFailureTests(unittest.TestCase):
    @unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
    def test_a_setup_failing_halfway_leaves_nothing_to_later_tests(self):
        from tests.cases import sqlalchemy_setup as cases

        suite = unittest.TestSuite([suite_of(cases.FailedSetUp), suite_of(cases.AfterAFailedSetUp),
                                    suite_of(cases.FailedSetUp), suite_of(cases.AfterAFailedSetUp)])
        result = run_suite(suite)
        self.assertEqual(list(problems_by_name(result)), ["test_a_never_runs"], result.output)
        self.assertEqual(len(result.errors), 2, result.output)
        self.assertIn("No module named 'psycopg2'", result.errors[0][1])


if __name__ == "__main__":
    unittest.main()
