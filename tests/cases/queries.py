"""Inner suites for test_queries: statement shapes, N+1 detection and query assertions."""

import psycopg

import tddkit


def lookup_each(conn, count):
    """An N+1 as application code writes it: one statement per id."""
    for user_id in range(count):
        conn.execute("SELECT name FROM users WHERE id = %s", (user_id,)).fetchone()  # the N+1 line


class Shapes(tddkit.TDDTestCase):
    def test_literals_and_parameters_share_a_shape(self):
        self.conn.execute("SELECT name FROM users WHERE id = 1")
        self.conn.execute("SELECT name  FROM users\n WHERE id = 22 -- a comment")
        self.conn.execute("SELECT name FROM users WHERE id = %s", (3,))
        self.conn.execute("SELECT name FROM users WHERE id = %(id)s", {"id": 4})
        self.conn.execute("SELECT count(*) FROM users WHERE email IN (%s, %s)", ("a@x", "b@x"))
        self.conn.execute("SELECT count(*) FROM users WHERE email IN ('c@x', 'd@x', 'e@x')")

    def test_a_statement_with_a_syntax_error_counts(self):
        with self.assertRaises(psycopg.errors.SyntaxError):
            self.conn.execute("SELEC name FROM users WHERE email = 'unterminated")

    def test_many_distinct_statements(self):
        for number in range(300):
            self.conn.execute(f"SELECT {number} AS c{number}")


class Repeats(tddkit.TDDTestCase):
    def test_9_calls(self):
        lookup_each(self.conn, 9)

    def test_10_calls(self):
        lookup_each(self.conn, 10)

    def test_16_calls(self):
        lookup_each(self.conn, 16)


class RepeatsInApplicationCode(tddkit.TDDTestCase):
    def test_through_the_pool(self):
        with self.pool.connection() as conn:
            lookup_each(conn, 12)

    def test_through_sqlalchemy(self):
        from sqlalchemy import text

        session = self.sqlalchemy_session()
        for user_id in range(12):
            session.execute(text("SELECT name FROM users WHERE id = :id"), {"id": user_id})  # the SQLAlchemy line


class AllowedPerTest(tddkit.TDDTestCase):
    @tddkit.allow_repeated_queries
    def test_allowed(self):
        lookup_each(self.conn, 12)

    def test_not_allowed(self):
        lookup_each(self.conn, 12)


class AllowedPerClass(tddkit.TDDTestCase):
    allow_repeated_queries = True

    def test_allowed(self):
        lookup_each(self.conn, 12)


@tddkit.allow_repeated_queries
class AllowedByDecorator(tddkit.TDDTestCase):
    def test_allowed(self):
        lookup_each(self.conn, 12)


class MaxQueries(tddkit.TDDTestCase):
    def test_at_the_limit(self):
        with self.assertMaxQueries(2) as captured:
            self.conn.execute("SELECT 1")
            self.conn.execute("SELECT 2")
        self.assertEqual(len(captured), 2)

    def test_fewer(self):
        with self.assertMaxQueries(5):
            self.conn.execute("SELECT 1")

    def test_over_the_limit(self):
        with self.assertMaxQueries(1):  # the failing line
            self.conn.execute("SELECT 'first'")
            lookup_each(self.conn, 2)

    def test_counts_application_code(self):
        with self.assertMaxQueries(1):
            with self.pool.connection() as conn:
                lookup_each(conn, 2)


class AroundTheBody(tddkit.TDDTestCase):
    """Repeats in setUpTestData, setUp, a cleanup and tearDown, catalog lookups in the body: no N+1 of the test."""

    @classmethod
    def setUpTestData(cls):
        lookup_each(cls.conn, 12)

    def setUp(self):
        lookup_each(self.conn, 12)
        self.addCleanup(lookup_each, self.conn, 12)

    def tearDown(self):
        lookup_each(self.conn, 12)

    def test_nothing_repeated(self):
        self.conn.execute("SELECT count(*) FROM users")

    def test_catalog_lookups(self):
        """SQLAlchemy checks each table before it creates or drops it; type and column lookups per table."""
        import sqlalchemy

        metadata = sqlalchemy.MetaData()
        for number in range(12):
            sqlalchemy.Table(f"many_{number}", metadata, sqlalchemy.Column("id", sqlalchemy.Integer))
        connection = self.sqlalchemy_connection()
        for table in metadata.sorted_tables:
            table.create(connection, checkfirst=True)
            table.drop(connection, checkfirst=True)
            self.conn.execute("SELECT oid FROM pg_type WHERE typname = %s", (table.name,))
            self.conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s", (table.name,))

    def test_eleven_calls(self):
        for user_id in range(11):
            self.conn.execute("SELECT name FROM users WHERE id = %s", (user_id,))  # the body's line
