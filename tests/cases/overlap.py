"""Cases of the work tddkit does while the server runs its own statements: ``run_internal``'s ``while_waiting``, and
the runner's record of a test, made while the next test is rolled back."""

import time

import tddkit


def _fail() -> None:
    raise ValueError("the bookkeeping failed")


class WhileWaiting(tddkit.TDDTestCase):
    """``while_waiting`` runs once the statement is sent, before its result is read."""

    def test_the_work_runs_while_the_server_works(self):
        started, marks = time.perf_counter(), []
        result = self.conn._tddkit.run_internal(b"SELECT pg_sleep(0.3), 42",
                                                lambda: marks.append(time.perf_counter() - started))
        elapsed = time.perf_counter() - started
        self.assertEqual(result.get_value(0, 1), b"42")
        (mark,) = marks
        self.assertLess(mark, 0.15, "ran before the server's answer")
        self.assertGreaterEqual(elapsed, 0.3)

    def test_a_failure_of_the_work_is_raised_after_the_result_is_read(self):
        with self.assertRaisesRegex(ValueError, "the bookkeeping failed"):
            self.conn._tddkit.run_internal(b"SELECT pg_sleep(0.1)", _fail)
        self.assertEqual(self.conn.execute("SELECT 1").fetchone(), (1,), "the connection still serves the test")


class Recorded(tddkit.TDDTestCase):
    """Three tests, one failing: each record shows the outcome its test ended with."""

    def test_a(self):
        self.conn.execute("SELECT 1")

    def test_b_fails(self):
        self.fail("as planned")

    def test_c(self):
        self.conn.execute("SELECT 2")


class Debugged(tddkit.TDDTestCase):
    """Run with ``TestCase.debug()`` (no result): its writes are rolled back all the same."""

    def test_writes_a_user(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('debug@example.com', 'D')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM users").fetchone(), (1,))
