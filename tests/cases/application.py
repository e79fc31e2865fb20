"""Inner suites for test_application: application code on self.pool, SQLAlchemy and its own connections."""

import sys
import threading
from unittest import mock

import psycopg

import tddkit

SEEN = {}


def count_users(conn):
    return conn.execute("SELECT count(*) FROM users").fetchone()[0]


def app_insert(pool, email):
    """Application code: a unit of work that commits at the end of the block."""
    with pool.connection() as conn:
        conn.execute("INSERT INTO users (email, name) VALUES (%s, 'app')", (email,))


class JoinedPool(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        app_insert(cls.pool, "class@example.org")

    def test_a_block_commit_is_seen_by_the_test_and_later_app_calls(self):
        app_insert(self.pool, "a@example.org")
        self.assertEqual(count_users(self.conn), 2)
        with self.pool.connection() as conn:
            self.assertEqual(count_users(conn), 2)

    def test_b_nothing_of_the_previous_test_remains(self):
        self.assertEqual([r[0] for r in self.conn.execute("SELECT email FROM users")], ["class@example.org"])

    def test_c_an_exception_in_the_block_rolls_back_only_the_block(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('test@example.org', 'test')")
        with self.assertRaises(psycopg.errors.UniqueViolation):
            with self.pool.connection() as conn:
                conn.execute("INSERT INTO users (email, name) VALUES ('new@example.org', 'app')")
                conn.execute("INSERT INTO users (email, name) VALUES ('test@example.org', 'dup')")
        self.assertEqual(count_users(self.conn), 2, "the test's row and the class's row remain")

    def test_d_getconn_commit_rollback_putconn(self):
        conn = self.pool.getconn()
        conn.execute("INSERT INTO users (email, name) VALUES ('kept@example.org', 'app')")
        conn.commit()
        conn.execute("INSERT INTO users (email, name) VALUES ('undone@example.org', 'app')")
        conn.rollback()
        conn.execute("INSERT INTO users (email, name) VALUES ('not-committed@example.org', 'app')")
        self.pool.putconn(conn)
        emails = sorted(r[0] for r in self.conn.execute("SELECT email FROM users"))
        self.assertEqual(emails, ["class@example.org", "kept@example.org"])

    def test_e_rollback_after_a_failed_statement(self):
        conn = self.pool.getconn()
        conn.execute("INSERT INTO users (email, name) VALUES ('ok@example.org', 'app')")
        conn.commit()
        with self.assertRaises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO users (email, name) VALUES ('no-at-sign', 'app')")
        conn.rollback()
        self.assertEqual(count_users(conn), 2)
        conn.execute("INSERT INTO users (email, name) VALUES ('after@example.org', 'app')")
        conn.commit()
        self.pool.putconn(conn)
        self.assertEqual(count_users(self.conn), 3)

    def test_f_nested_transaction_blocks_are_savepoints(self):
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("INSERT INTO users (email, name) VALUES ('outer@example.org', 'app')")
                with self.assertRaises(psycopg.errors.UniqueViolation):
                    with conn.transaction():
                        conn.execute("INSERT INTO users (email, name) VALUES ('outer@example.org', 'dup')")
        self.assertEqual(count_users(self.conn), 2)

    def test_g_commit_inside_a_transaction_block_is_refused_as_psycopg_does(self):
        with self.pool.connection() as conn:
            with conn.transaction():
                with self.assertRaises(psycopg.ProgrammingError):
                    conn.commit()

    def test_h_a_module_level_pool_is_patched(self):
        module = type(sys)("fake_app_db")
        module.pool = object()
        with mock.patch.dict(sys.modules, {"fake_app_db": module}), mock.patch("fake_app_db.pool", self.pool):
            app_insert(sys.modules["fake_app_db"].pool, "patched@example.org")
        self.assertEqual(count_users(self.conn), 2)

    def test_i_statements_through_the_pool_are_counted_but_not_its_savepoints(self):
        with self.assertNumQueries(2):
            app_insert(self.pool, "counted@example.org")
            with self.pool.connection() as conn:
                conn.execute("SELECT 1")

    def test_j_self_conn_keeps_its_guard(self):
        with self.assertRaises(tddkit.IsolationError) as caught:
            self.conn.commit()
        SEEN["guard"] = str(caught.exception)

    def test_k_autocommit_and_raw_commit_are_explained(self):
        with self.pool.connection() as conn:
            with self.assertRaises(tddkit.IsolationError) as caught:
                conn.autocommit = True
            SEEN["autocommit"] = str(caught.exception)
            with self.assertRaises(tddkit.IsolationError) as caught:
                conn.execute("COMMIT")
            SEEN["raw"] = str(caught.exception)
            conn.autocommit = False  # the value it has: allowed

    def test_l_a_thread_of_the_app_uses_the_connection(self):
        def worker():
            with self.pool.connection() as conn:
                conn.execute("INSERT INTO users (email, name) VALUES ('thread@example.org', 'app')")
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(10)
        self.assertEqual(count_users(self.conn), 2)


class AfterJoinedPool(tddkit.TDDTestCase):
    def test_nothing_of_the_other_class_remains(self):
        self.assertEqual(count_users(self.conn), 0)


class PoolOutsideTests(tddkit.TDDTestCase):
    def test_keeps_its_pool(self):
        SEEN["pool"] = self.pool


class CommitsOnItsOwnConnection(tddkit.TDDTestCase):
    def test_a_leaks_a_committed_row(self):
        with psycopg.connect(self.dsn, autocommit=True) as other:
            other.execute("INSERT INTO users (email, name) VALUES ('leaked@example.org', 'other')")

    def test_b_after_the_leak(self):
        self.assertEqual(count_users(self.conn), 0)

    def test_c_own_connection_that_rolls_back_is_fine(self):
        with psycopg.connect(self.dsn) as other:
            other.execute("INSERT INTO users (email, name) VALUES ('rolled-back@example.org', 'other')")
            other.rollback()


class CommitsAWrite(tddkit.TDDTestCase):
    """Commits ``statement`` (set by the outer test) on a connection of its own."""

    statement = ""

    def test_commits_it(self):
        with psycopg.connect(self.dsn, autocommit=True) as other:
            other.execute(self.statement)


class CommitsThatChangeNothingHere(tddkit.TDDTestCase):
    def test_a_transaction_that_wrote_nothing(self):
        with psycopg.connect(self.dsn, autocommit=True) as other:
            other.execute("SELECT pg_current_xact_id()")  # a commit, of a transaction with an id

    def test_b_a_write_to_another_database(self):
        with psycopg.connect(tddkit.get_session().server_dsn, autocommit=True) as other:
            other.execute("CREATE TEMP TABLE elsewhere (id int)")
            other.execute("INSERT INTO elsewhere VALUES (1)")

    def test_c_nextval_and_analyze(self):
        with psycopg.connect(self.dsn, autocommit=True) as other:
            other.execute("SELECT nextval('users_id_seq')")
            other.execute("ANALYZE users")


class AfterTheLeak(tddkit.TDDTestCase):
    def test_the_database_is_back_to_the_template(self):
        self.assertEqual(count_users(self.conn), 0)


#: What a test sees of the template's schema: the columns of users, whether table after_tpl exists.
TEMPLATE_SCHEMA = (["id", "email", "name", "created_at"], False)


def schema_seen(conn):
    columns = [r[0] for r in conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass "
                                          "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]
    return columns, conn.execute("SELECT to_regclass('after_tpl') IS NOT NULL").fetchone()[0]


class ChangesTheSchemaOnItsOwnConnection(tddkit.TDDTestCase):
    def test_a_commits_ddl(self):
        with psycopg.connect(self.dsn, autocommit=True) as other:
            other.execute("ALTER TABLE users ADD COLUMN extra text")
            other.execute("CREATE TABLE after_tpl (id int)")
            other.execute("DROP INDEX orders_user_id_status_idx")

    def test_b_sees_the_templates_schema(self):
        self.assertEqual(schema_seen(self.conn), TEMPLATE_SCHEMA)
        self.assertEqual(self.conn.execute("SELECT to_regclass('orders_user_id_status_idx') IS NOT NULL").fetchone(),
                         (True,))

    def test_c_ddl_in_its_own_transaction_is_fine(self):
        self.conn.execute("ALTER TABLE users ADD COLUMN extra text")
        self.conn.execute("CREATE TABLE after_tpl (id int)")
        self.conn.execute("CREATE TEMP TABLE scratch (id int)")
        self.conn.execute("DROP TABLE after_tpl")
        with psycopg.connect(self.dsn, autocommit=True) as other:  # temp tables are no one else's
            other.execute("CREATE TEMP TABLE scratch (id int)")
            other.execute("DROP TABLE scratch")

    def test_d_after(self):
        self.assertEqual(schema_seen(self.conn), TEMPLATE_SCHEMA)


class WritesToATableMadeAfterTheTemplate(tddkit.TDDTestCase):
    """Table after_tpl is created by the outer test before this class runs."""

    def test_a_commits_a_row_to_it(self):
        with psycopg.connect(self.dsn, autocommit=True) as other:
            other.execute("INSERT INTO after_tpl VALUES (1)")

    def test_b_the_database_is_the_templates_again(self):
        self.assertEqual(schema_seen(self.conn), TEMPLATE_SCHEMA)


class CommitAsSavepoint(tddkit.TDDTestCase):
    commit_as_savepoint = True

    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("INSERT INTO users (email, name) VALUES ('class@example.org', 'class')")
        cls.conn.commit()

    def test_a_commit_keeps_rollback_goes_back_to_it(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('kept@example.org', 'lib')")
        self.conn.commit()
        self.conn.execute("INSERT INTO users (email, name) VALUES ('undone@example.org', 'lib')")
        self.conn.rollback()
        emails = sorted(r[0] for r in self.conn.execute("SELECT email FROM users"))
        self.assertEqual(emails, ["class@example.org", "kept@example.org"])

    def test_b_rollback_without_commit_goes_back_to_the_test_start(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('undone@example.org', 'lib')")
        self.conn.rollback()
        self.assertEqual(count_users(self.conn), 1)

    def test_c_nothing_remains(self):
        self.assertEqual(count_users(self.conn), 1)
