"""A test that fails the first time it runs in a process and passes after (for --repeat)."""

import tddkit

RUNS = []


class FailsOnce(tddkit.TDDTestCase):
    def test_fails_the_first_time(self):
        RUNS.append(1)
        self.assertGreater(len(RUNS), 1, "first run fails")
