"""Inner suites for test_reliability: tests that break things on purpose (no test_ prefix: not discovered).

Classes whose names start with ``Limits`` run in a child process with tiny
timeouts and a tiny pool; ``ServerDies`` kills the embedded server of the
child run it is in. The others run in the outer test process.
"""

import contextlib
import logging
import os
import signal
import threading
import time

import psycopg
from psycopg import sql

import tddkit

#: What the tests saw, for the outer tests to check (backend pids by test name).
SEEN = {}

HOSTILE = 'x"; DROP TABLE users; --'


def admin():
    """An autocommit connection to the test database, outside tddkit's pool."""
    return psycopg.connect(tddkit.get_session()._database.dsn, autocommit=True)


def terminate(pid):
    """pg_terminate_backend(pid), then wait until the backend is gone."""
    with admin() as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(500):
            if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} did not exit")


class KilledBackend(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("INSERT INTO users (email, name) VALUES ('kept@example.org', 'kept')")

    def _check_fresh_connection(self, name):
        SEEN[name] = self.conn.info.backend_pid
        self.assertEqual(self.conn.execute("SELECT email FROM users").fetchall(), [("kept@example.org",)])

    def test_a_killed_while_running(self):
        SEEN["a"] = self.conn.info.backend_pid
        terminate(self.conn.info.backend_pid)
        self.conn.execute("SELECT 1")

    def test_b_after(self):
        self._check_fresh_connection("b")

    def test_c_killed_after_its_last_statement(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('c@example.org', 'c')")
        SEEN["c"] = self.conn.info.backend_pid
        terminate(self.conn.info.backend_pid)

    def test_d_after(self):
        self._check_fresh_connection("d")

    def test_e_expects_its_own_termination(self):
        SEEN["e"] = self.conn.info.backend_pid
        with self.assertRaises(psycopg.errors.AdminShutdown):
            self.conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    def test_f_after(self):
        self._check_fresh_connection("f")


class LeavesConnectionBusy(tddkit.TDDTestCase):
    kept = []

    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("INSERT INTO users (email, name) VALUES ('busy@example.org', 'busy')")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        psycopg_log = logging.getLogger("psycopg")
        psycopg_log.disabled = True  # closing them on their closed connection logs a warning: expected here
        try:
            for item in reversed(cls.kept):  # generators, or a copy() context around one
                with contextlib.suppress(Exception):
                    getattr(item, "gen", item).close()
        finally:
            psycopg_log.disabled = False
            cls.kept.clear()

    def _check_clean(self):
        self.assertEqual(self.conn.execute("SELECT email FROM users").fetchall(), [("busy@example.org",)])

    def test_a_copy_through_execute(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('a@example.org', 'a')")
        self.conn.execute("COPY users (email, name) FROM STDIN")

    def test_b_after(self):
        self._check_clean()

    def test_c_copy_left_open(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('c@example.org', 'c')")
        block = self.conn.cursor().copy("COPY users (email, name) FROM STDIN")
        self.kept.append(block)
        block.__enter__().write_row(("copied@example.org", "copied"))

    def test_d_after(self):
        self._check_clean()

    def test_e_stream_left_open(self):
        rows = self.conn.cursor().stream("SELECT generate_series(1, 100000)")
        self.kept.append(rows)
        self.assertEqual(next(rows), (1,))

    def test_f_after(self):
        self._check_clean()


class LeavesCursorsOpen(tddkit.TDDTestCase):
    def _declare(self):
        self.conn.execute("DECLARE left_open CURSOR FOR SELECT generate_series(1, 1000)")
        self.conn.execute("DECLARE left_held CURSOR WITH HOLD FOR SELECT generate_series(1, 1000)")
        self.assertEqual(len(self.conn.execute("FETCH 5 FROM left_open").fetchall()), 5)

    def test_a_leaves_cursors(self):
        self._declare()

    def test_b_declares_the_same_names(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM pg_cursors").fetchone(), (0,))
        self._declare()


class HoldsLocks(tddkit.TDDTestCase):
    def test_keeps_a_session_advisory_lock(self):
        self.conn.execute("SELECT pg_advisory_lock(4242)")

    def test_extra_connection_keeps_locks_and_a_transaction(self):
        extra = self.extra_connection()
        extra.execute("SELECT pg_advisory_lock(4343)")
        extra.execute("CREATE TEMP TABLE left_by_extra (id int)")
        extra.execute("SELECT count(*) FROM users")  # its transaction stays open


class NeedsLocks(tddkit.TDDTestCase):
    def test_gets_the_locks_at_once(self):
        extra = self.extra_connection()
        self.assertEqual(extra.execute("SELECT pg_try_advisory_lock(4242), pg_try_advisory_lock(4343)").fetchone(),
                         (True, True))
        self.assertEqual(extra.execute("SELECT to_regclass('pg_temp.left_by_extra')").fetchone(), (None,))


#: Advisory locks taken by LocksThroughThePool's tests, and the form of each (bigint or two int keys, shared).
TEST_LOCKS = "pg_try_advisory_lock(4401), pg_try_advisory_lock(4402), pg_try_advisory_lock(44, 3), " \
             "pg_try_advisory_lock(4404), pg_try_advisory_lock(-4405), pg_try_advisory_lock(-44, -6)"


class LocksThroughThePool(tddkit.TDDTestCase):
    def test_a_takes_session_locks(self):
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(4401)")
        conn = self.pool.getconn()
        conn.execute("SELECT pg_advisory_lock(4402), pg_advisory_lock(4402)")  # twice: held until unlocked twice
        self.pool.putconn(conn)
        self.conn.execute("SELECT pg_advisory_lock(44, 3), pg_advisory_lock_shared(4404), pg_advisory_lock(-4405), "
                          "pg_advisory_lock(-44, -6)")

    def test_b_the_locks_are_free(self):
        extra = self.extra_connection()
        self.assertEqual(extra.execute(f"SELECT {TEST_LOCKS}").fetchone(), (True,) * 6)


class LocksInSetUpTestData(LocksThroughThePool):
    """A lock setUpTestData takes is the class's: held through its tests, released when the class ends."""

    @classmethod
    def setUpTestData(cls):
        cls.conn.execute("SELECT pg_advisory_lock(4400), pg_advisory_lock_shared(-44, 0)")

    def _check_class_locks_held(self):
        extra = self.extra_connection()
        self.assertEqual(extra.execute("SELECT pg_try_advisory_lock(4400), pg_try_advisory_lock(-44, 0)").fetchone(),
                         (False, False))

    def test_b_the_locks_are_free(self):
        super().test_b_the_locks_are_free()
        self._check_class_locks_held()

    def test_c_takes_one_class_lock_again_and_releases_the_other(self):
        self.conn.execute("SELECT pg_advisory_lock(4400), pg_advisory_unlock_shared(-44, 0)")

    def test_d_the_class_locks_are_held_as_before(self):
        self._check_class_locks_held()


class LocksTheClassHeld(tddkit.TDDTestCase):
    def test_the_class_locks_are_free(self):
        extra = self.extra_connection()
        self.assertEqual(extra.execute("SELECT pg_try_advisory_lock(4400), pg_try_advisory_lock(-44, 0)").fetchone(),
                         (True, True))


class BorrowsConnections(tddkit.TDDTestCase):
    def test_a_borrows_and_never_returns(self):
        lender = tddkit.get_session()._lender
        SEEN["borrowed"] = [lender.getconn() for _ in range(2)] + [self.extra_connection()]

    def test_b_after(self):
        pool = tddkit.get_session()._database.pool
        stats = pool.get_stats()
        self.assertEqual(stats["pool_size"] - stats["pool_available"], 1)  # this class's connection only


class HostileNames(tddkit.TDDTestCase):
    def _round_trip(self):
        self.assertEqual(self.create_temp_table("user_table", HOSTILE), HOSTILE)
        self.insert_rows(HOSTILE, [{"name": "a", "email": "a@example.org"}, {"name": "b", "email": "b@example.org"}])
        rows = self.fetch_all(sql.SQL("SELECT name FROM {} ORDER BY name").format(sql.Identifier(HOSTILE)))
        self.assertEqual(rows, [("a",), ("b",)])
        self.assertEqual(self.fetch_all("SELECT relname FROM pg_class WHERE relname LIKE 'x%' AND "
                                        "relnamespace = pg_my_temp_schema() AND relkind = 'r'"), [(HOSTILE,)])
        self.assertEqual(self.fetch_all("SELECT to_regclass('public.users') IS NOT NULL"), [(True,)])

    def test_a_creates_and_fills_a_table_with_that_exact_name(self):
        self._round_trip()

    def test_b_again_from_the_schema_cache(self):
        self._round_trip()

    def test_c_qualified_and_hostile_column_names(self):
        self.assertEqual(self.insert_rows(("public", "users"), [{"email": "q@example.org", "name": "q"}]), 1)
        with self.assertRaises(psycopg.errors.UndefinedColumn):
            self.insert_rows("users", [{HOSTILE: "x"}])


class LimitsStatementTimeout(tddkit.TDDTestCase):
    def test_a_hangs(self):
        self.conn.execute("SELECT pg_sleep(30)")

    def test_b_after(self):
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (1,))


class LimitsLockWait(tddkit.TDDTestCase):
    def test_a_waits_for_its_own_lock(self):
        self.conn.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        self.extra_connection().execute("SELECT count(*) FROM users")

    def test_b_after(self):
        self.assertEqual(self.extra_connection().execute("SELECT count(*) FROM users").fetchone(), (0,))


class LimitsPool(tddkit.TDDTestCase):
    def test_a_takes_more_than_the_pool_has(self):
        lender = tddkit.get_session()._lender
        for _ in range(lender.database.settings.pool_max_size + 1):
            lender.getconn()

    def test_b_after(self):
        lender = tddkit.get_session()._lender
        for _ in range(lender.database.settings.pool_max_size - 1):
            lender.getconn()


class ServerDies(tddkit.TDDTestCase):
    def test_a_kills_the_server(self):
        server = tddkit.get_session()._server
        pid = server.process.pid
        children = [p for p in os.listdir("/proc") if p.isdigit() and _parent(p) == pid]
        shmem = (server.data_dir / "postmaster.pid").read_text().splitlines()[6].split()[-1]
        with open(os.environ["TDDKIT_TEST_MARKER"], "w") as fh:
            fh.write(" ".join([str(pid), *children]) + "\n" + shmem)
        for victim in [pid, *map(int, children)]:  # the whole server, as a crash or the OOM killer would
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        server.process.wait(10)
        self.conn.execute("SELECT 1")

    def test_b_after(self):
        self.conn.execute("SELECT 1")

    def test_c_after(self):
        self.conn.execute("SELECT 1")


class ServerDiesLaterClass(tddkit.TDDTestCase):
    def test_d(self):
        self.conn.execute("SELECT 1")


class ServerDiesLastClass(tddkit.TDDTestCase):
    def test_e(self):
        self.conn.execute("SELECT 1")


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class PreparesStatements(tddkit.TDDTestCase):
    def test_a_prepares(self):
        self.conn.execute("PREPARE find_user (text) AS SELECT id FROM users WHERE email = $1")

    def test_b_prepares_the_same_name(self):
        self.conn.execute("PREPARE find_user (text) AS SELECT id FROM users WHERE email = $1")

    def test_c_prepares_through_psycopg_sql(self):
        self.conn.execute(sql.SQL("PREPARE {} AS SELECT count(*) FROM users").format(sql.Identifier("count users")))

    def test_d_prepares_the_same_name_through_psycopg_sql(self):
        self.test_c_prepares_through_psycopg_sql()

    def test_e_a_prepare_that_fails(self):
        with self.assertRaises(psycopg.errors.SyntaxError):
            self.conn.execute("PREPARE broken AS SELEC 1")


class PreparesAgainInAnotherClass(PreparesStatements):
    pass


class UsesTddkitSavepointName(tddkit.TDDTestCase):
    def test_a_sets_tddkit_test(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('before@example.org', 'x')")
        self.conn.execute("SAVEPOINT tddkit_test")

    def test_b_sees_nothing(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))


class LeavesThreadRunning(tddkit.TDDTestCase):
    def test_a_starts_a_late_writer(self):
        def write_later():
            time.sleep(0.3)
            try:
                self.conn.execute("INSERT INTO users (email, name) VALUES ('late@example.org', 'late')")
            except psycopg.Error:
                pass  # the connection was closed under it: the write never lands
        threading.Thread(target=write_later, name="late-writer").start()

    def test_b_sees_nothing_even_later(self):
        time.sleep(0.5)
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))

    def test_c_thread_mid_query_at_the_end(self):
        thread = threading.Thread(target=lambda: self.conn.execute("SELECT pg_sleep(0.5)"), name="slow-query")
        thread.start()
        time.sleep(0.1)
        SEEN["slow_query_thread"] = thread

    def test_d_after(self):
        SEEN["slow_query_thread"].join(5)
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (0,))


class HidesPrepareTransaction(tddkit.TDDTestCase):
    def test_prepares_the_transaction(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('p@example.org', 'p'); "
                          "PREPARE TRANSACTION 'tddkit_hidden'")
