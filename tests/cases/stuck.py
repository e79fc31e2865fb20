"""Tests stuck in Python or in a query, for the per-test timeout (run with --timeout 0.5)."""

import signal
import threading
import time

import tddkit

# active only: a closed connection's backend may not have exited yet, and pg_stat_activity keeps its last query
STILL_SLEEPING = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(30)'"


class Stuck(tddkit.TDDTestCase):
    def test_a_sleeps(self):
        time.sleep(30)  # STUCK IN SLEEP

    def test_b_after(self):
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (1,))

    def test_c_deadlocks(self):
        lock = threading.Lock()
        lock.acquire()
        lock.acquire()  # STUCK ON A LOCK

    def test_d_after(self):
        self.assertEqual(self.conn.execute("SELECT 2").fetchone(), (2,))

    def test_e_waits_for_a_query(self):
        self.conn.execute("SELECT pg_sleep(30)")  # STUCK IN A QUERY

    def test_f_the_query_was_cancelled(self):
        # test_e sent the cancel; its backend acts on it a moment later (it would sleep 30 s). Within this
        # test's own 0.5 s limit:
        deadline = time.monotonic() + 0.4
        while self.conn.execute(STILL_SLEEPING).fetchone() != (0,) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.conn.execute(STILL_SLEEPING).fetchone(), (0,))

    def test_g_swallows_exceptions(self):
        try:
            time.sleep(30)  # STUCK WHILE CATCHING EXCEPTION
        except Exception:
            pass


class BlocksTheTimer(tddkit.TDDTestCase):
    """Stuck where no timer reaches it (SIGALRM blocked): only a parallel run can go on, without its worker."""

    def test_blocks_the_timer(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(30)

    def test_after(self):
        self.assertEqual(self.conn.execute("SELECT 3").fetchone(), (3,))


class Fast(tddkit.TDDTestCase):
    def test_timer_runs_only_during_tests(self):
        armed = signal_timer()
        self.assertEqual(armed > 0, bool(tddkit.get_session().settings.test_timeout), armed)


def signal_timer():
    """Seconds left on this process's SIGALRM timer (0.0: none runs)."""
    return signal.getitimer(signal.ITIMER_REAL)[0]
