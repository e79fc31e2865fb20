"""A setUp that fails halfway through SQLAlchemy and driver work, and the test after it (tests.test_sqlalchemy)."""

import unittest

import psycopg
from psycopg.adapt import Dumper

import tddkit
from tests.test_sqlalchemy import HAVE_SQLALCHEMY

if HAVE_SQLALCHEMY:
    from sqlalchemy import text

    from examples.shop.orm import User


class Shouting(Dumper):
    """Dumps text in capitals: a test registered it on the connection."""

    def dump(self, obj):
        return obj.upper().encode()


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class FailedSetUp(tddkit.TDDTestCase):
    """A setUp that fails halfway, as a psycopg2-only call does (run by SetUpFailureTests)."""

    def setUp(self):
        connection = self.sqlalchemy_connection()
        connection.execute(text("INSERT INTO users (email, name) VALUES ('half@example.com', 'H')"))
        self.sqlalchemy_session().add(User(email="pending@example.com", name="P"))
        self.conn.adapters.register_dumper(str, Shouting)
        with self.assertRaises(psycopg.errors.UndefinedColumn):
            self.conn.execute("SELECT no_such_column FROM users")  # the transaction is now failed
        import psycopg2.extras  # noqa: F401 - not installed: the setUp fails here

    def test_a_never_runs(self):
        raise AssertionError("setUp failed: the body must not run")


@unittest.skipUnless(HAVE_SQLALCHEMY, "SQLAlchemy is not installed")
class AfterAFailedSetUp(tddkit.TDDTestCase):
    def test_b_the_connection_is_clean(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))
        self.assertEqual(self.conn.execute("SELECT %s::text", ["x"]).fetchone(), ("x",))  # no adapter left
        self.assertEqual(list(self.sqlalchemy_connection().execute(text("SELECT email FROM users")).scalars()), [])
