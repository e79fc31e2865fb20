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

    def test_z_nothing_prepared_after_a_test(self):
        self.assertEqual(prepared_by_sql(self.conn), [])  # tddkit's after-test statement is sent as it is


def prepared_by_sql(conn) -> list[str]:
    """The names of the statements SQL PREPARE made on ``conn`` (tddkit's after-test statement among them)."""
    return [row[0] for row in conn.execute(
        "SELECT name FROM pg_prepared_statements WHERE from_sql ORDER BY name").fetchall()]


class _Notes:
    """A table to write to; the check that a test starts with no row of another and no advisory lock."""

    allow_repeated_queries = True  # statements run often on purpose

    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("CREATE TABLE notes (a int)")

    def assert_clean(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM notes").fetchone(), (0,))
        self.assertEqual(self.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()").fetchone(), (0,))

    def dirty(self):
        self.conn.execute("INSERT INTO notes VALUES (1)")
        self.conn.execute("SELECT pg_advisory_lock(42)")


class AfterTestStatement(_Notes, tddkit.TDDTestCase):
    """The statement tddkit runs after each test's rollback is prepared once per connection, and prepared again
    when a test deallocates it: every test still starts with no row of another and no advisory lock."""

    def test_a_first(self):
        self.assert_clean()
        self.dirty()

    def test_b_prepared_by_the_first_rollback(self):
        self.assert_clean()
        self.assertEqual([name[:len("tddkit_after_test_")] for name in prepared_by_sql(self.conn)],
                         ["tddkit_after_test_"])
        self.dirty()
        self.conn.execute("DEALLOCATE ALL")  # unseen by tddkit: the rollback's EXECUTE finds it gone

    def test_c_after_deallocate_all(self):
        self.assert_clean()
        self.assertEqual(len(prepared_by_sql(self.conn)), 1)  # prepared again by the rollback that found it gone
        self.dirty()
        self.conn.execute("DISCARD PLANS")  # tddkit's rollback deallocates everything after it

    def test_d_after_discard_plans(self):
        self.assert_clean()


class PsycopgDeallocatesAll(_Notes, tddkit.TDDTestCase):
    """psycopg's own DEALLOCATE ALL (after a statement whose status is ROLLBACK, once it prepared one) takes tddkit's
    after-test statement too."""

    def test_a_first(self):
        self.dirty()

    def test_b_psycopg_deallocates(self):
        self.assert_clean()
        self.dirty()
        run_often(self.conn, "SELECT a FROM notes")  # psycopg prepares it...
        self.conn.execute("SAVEPOINT mine")
        self.conn.execute("ROLLBACK TO SAVEPOINT mine")  # ...and on this statement's status sends DEALLOCATE ALL
        self.assertEqual(prepared_by_sql(self.conn), [])

    def test_c_after_it(self):
        self.assert_clean()
        self.assertEqual(len(prepared_by_sql(self.conn)), 1)
