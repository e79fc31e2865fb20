"""Suites that wait to be interrupted: each waiting test leaves a marker named after its process, then sleeps.

The markers go to the directory in TDDKIT_TEST_MARKERS: ``waiting.<pid>``
when a test starts waiting (the pid of the runner, or of its worker),
``ran-after.<pid>`` if the test after it ever runs.
"""

import os
import time

import tddkit


def note(what):
    open(os.path.join(os.environ["TDDKIT_TEST_MARKERS"], f"{what}.{os.getpid()}"), "w").close()


def wait_for_a_signal(conn):
    """A schema hook that waits (the template build is what gets interrupted)."""
    conn.execute("CREATE TABLE built (id int)")
    note("waiting")
    time.sleep(60)


class WaitsFirst(tddkit.TDDTestCase):
    def test_a_waits(self):
        self.conn.execute("INSERT INTO users (email, name) VALUES ('w@example.org', 'w')")
        note("waiting")
        time.sleep(60)

    def test_b_after(self):
        note("ran-after")


class WaitsToo(tddkit.TDDTestCase):
    def test_waits(self):
        self.conn.execute("SELECT 1")
        note("waiting")
        time.sleep(60)
