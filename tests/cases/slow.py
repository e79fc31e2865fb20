"""A suite that signals it started, then waits: the target of interrupt tests."""

import os
import time

import tddkit


class WaitsForASignal(tddkit.TDDTestCase):
    def test_waits(self):
        self.conn.execute("SELECT 1")
        with open(os.environ["TDDKIT_TEST_MARKER"], "w") as fh:
            fh.write("started")
        time.sleep(60)
