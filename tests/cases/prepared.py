"""Cases of prepared statements: psycopg prepares a statement a connection runs often (``prepare_threshold``), and
tddkit keeps it prepared from test to test. DDL, SET and the rollback that undoes them must never leave a statement
planned for a schema that is gone (PostgreSQL: ``cached plan must not change result type``)."""

import os

import tddkit

#: More runs than the default prepare_threshold (5): the last ones run prepared.
OFTEN = 7
SELECT_SHAPES = "SELECT * FROM shapes ORDER BY a"


def run_often(conn, sql: str) -> list[tuple]:
    """``sql`` run OFTEN times on ``conn``; the last run's rows."""
    rows: list[tuple] = []
    for _ in range(OFTEN):
        rows = conn.execute(sql).fetchall()
    return rows


def prepared_by_psycopg(conn) -> list[str]:
    """The statements psycopg prepared on ``conn`` (not SQL PREPARE's) that the server holds."""
    return [row[0] for row in conn.execute(
        "SELECT statement FROM pg_prepared_statements WHERE NOT from_sql ORDER BY prepare_time").fetchall()]


class KeepsPrepared(tddkit.TDDTestCase):
    """A statement prepared in one test is still prepared, and used, in the next."""

    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("CREATE TABLE shapes (a int)")
        cls.conn.execute("INSERT INTO shapes VALUES (1), (2)")

    def test_a_prepares(self):
        self.assertEqual(run_often(self.conn, SELECT_SHAPES), [(1,), (2,)])
        self.assertIn(SELECT_SHAPES, prepared_by_psycopg(self.conn))

    def test_b_still_prepared_after_the_rollback(self):
        self.assertIn(SELECT_SHAPES, prepared_by_psycopg(self.conn))
        self.assertEqual(self.conn.execute(SELECT_SHAPES).fetchall(), [(1,), (2,)])


class ChangesTheSchema(tddkit.TDDTestCase):
    """Tests that change a table a prepared statement reads, within the test and for the next one."""

    allow_repeated_queries = True  # a statement run often on purpose

    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("CREATE TABLE shapes (a int)")
        cls.conn.execute("INSERT INTO shapes VALUES (1)")

    def test_a_alters_after_preparing(self):
        self.assertEqual(run_often(self.conn, SELECT_SHAPES), [(1,)])
        self.conn.execute("ALTER TABLE shapes ADD COLUMN b text DEFAULT 'x'")
        self.assertEqual(run_often(self.conn, SELECT_SHAPES), [(1, "x")])  # prepared again, two columns

    def test_b_the_rollback_took_the_column_away(self):
        self.assertEqual(self.conn.execute(SELECT_SHAPES).fetchall(), [(1,)])

    def test_c_search_path_to_a_wider_table(self):
        self.assertEqual(run_often(self.conn, SELECT_SHAPES), [(1,)])
        self.conn.execute("CREATE SCHEMA wide")
        self.conn.execute("CREATE TABLE wide.shapes (a int, b int)")
        self.conn.execute("INSERT INTO wide.shapes VALUES (2, 3)")
        self.conn.execute("SET LOCAL search_path = wide, public")
        self.assertEqual(run_often(self.conn, SELECT_SHAPES), [(2, 3)])

    def test_d_back_to_public(self):
        self.assertEqual(run_often(self.conn, SELECT_SHAPES), [(1,)])


class RecreatesATable(tddkit.TDDTestCase):
    """Each test creates its own table of the same name, with other columns."""

    def test_a_one_column(self):
        self.conn.execute("CREATE TABLE own (a int)")
        self.conn.execute("INSERT INTO own VALUES (1)")
        self.assertEqual(run_often(self.conn, "SELECT * FROM own"), [(1,)])

    def test_b_two_columns(self):
        self.conn.execute("CREATE TABLE own (a int, b text)")
        self.conn.execute("INSERT INTO own VALUES (1, 'x')")
        self.assertEqual(run_often(self.conn, "SELECT * FROM own"), [(1, "x")])


class HiddenSchemaChange(tddkit.TDDTestCase):
    """A function creates the table: tddkit cannot see the DDL, so the second test fails, saying why; the third,
    after that test's rollback, runs clean."""

    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("""CREATE FUNCTION make_hidden(wide bool) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF wide THEN CREATE TABLE hidden (a int, b int); INSERT INTO hidden VALUES (1, 2);
                ELSE CREATE TABLE hidden (a int); INSERT INTO hidden VALUES (1); END IF;
            END $$""")

    def test_a_narrow(self):
        self.conn.execute("SELECT make_hidden(false)")
        self.assertEqual(run_often(self.conn, "SELECT * FROM hidden"), [(1,)])

    def test_b_wide(self):
        self.conn.execute("SELECT make_hidden(true)")
        self.assertEqual(run_often(self.conn, "SELECT * FROM hidden"), [(1, 2)])

    def test_c_wide_again(self):
        self.conn.execute("SELECT make_hidden(true)")
        self.assertEqual(run_often(self.conn, "SELECT * FROM hidden"), [(1, 2)])


class NeverPrepares(tddkit.TDDTestCase):
    """Run with prepare_threshold = 0 (the outer test sets TDDKIT_PREPARE_THRESHOLD): nothing is prepared."""

    def test_nothing_prepared(self):
        self.assertEqual(os.environ.get("TDDKIT_PREPARE_THRESHOLD"), "0")
        self.conn.execute("CREATE TABLE shapes (a int)")
        run_often(self.conn, SELECT_SHAPES)
        self.assertEqual(prepared_by_psycopg(self.conn), [])
