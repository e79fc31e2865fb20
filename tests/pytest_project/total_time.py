"""One test of each kind (a pytest fixture test, a TDDTestCase) with known pauses in its setup, body and cleanup,
behind a named resource; each notes when its own code starts and ends (file named by TDDKIT_TEST_TIMES)."""

import os
import time

import pytest

import tddkit

PAUSE = 0.05  # seconds slept in each of the setup, the body and the cleanup
RESOURCE = "total-time"


def note(event):
    with open(os.environ["TDDKIT_TEST_TIMES"], "a") as fh:
        fh.write(f"{event} {time.perf_counter()}\n")


@pytest.fixture
def paused(tddkit_conn):
    note("start")
    time.sleep(PAUSE)
    yield
    time.sleep(PAUSE)
    note("end")


@pytest.mark.tddkit_resources(RESOURCE)
def test_fixture(paused, tddkit_conn):
    tddkit_conn.execute("SELECT 1")
    time.sleep(PAUSE)


@tddkit.resources(RESOURCE)
class PausedCase(tddkit.TDDTestCase):
    def setUp(self):
        note("start")
        time.sleep(PAUSE)
        self.addCleanup(note, "end")
        self.addCleanup(time.sleep, PAUSE)  # runs first: cleanups run last in, first out

    def test_case(self):
        self.conn.execute("SELECT 1")
        time.sleep(PAUSE)
