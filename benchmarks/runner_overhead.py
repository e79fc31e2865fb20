"""What the tddkit runner's bookkeeping adds per test, against plain unittest.

Both runners run the same trivial TDDTestCase suite on the same session in the
same process, alternating, several rounds; each round's wall time divided by
the number of tests is one sample. Prints the medians and their difference.

    python benchmarks/runner_overhead.py [--tests 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import unittest

import tddkit
from tddkit.testcase.runner import TDDTestRunner

from _project import server_version, write_fragment


class Trivial(tddkit.TDDTestCase):
    def test_nothing(self):
        pass


def per_test_ms(runner: unittest.TextTestRunner, tests: int) -> float:
    suite = unittest.TestSuite(Trivial("test_nothing") for _ in range(tests))
    started = time.perf_counter()
    result = runner.run(suite)
    elapsed = time.perf_counter() - started
    assert result.wasSuccessful() and result.testsRun == tests
    return elapsed * 1000 / tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tddkit.get_session()
    plain, tdd = [], []
    for _ in range(args.rounds):
        plain.append(per_test_ms(unittest.TextTestRunner(stream=io.StringIO(), verbosity=0), args.tests))
        tdd.append(per_test_ms(TDDTestRunner(stream=io.StringIO(), verbosity=0, show_report=False), args.tests))
    plain_median, tdd_median = statistics.median(plain), statistics.median(tdd)
    print(f"trivial TDDTestCase test, {args.tests} tests x {args.rounds} rounds, median per-test wall time")
    print(f"  python -m unittest runner : {plain_median:.4f} ms")
    print(f"  tddkit runner             : {tdd_median:.4f} ms")
    print(f"  runner overhead           : {tdd_median - plain_median:+.4f} ms per test "
          f"(ratio {tdd_median / plain_median:.3f})")
    write_fragment("runner_overhead", ["runner", "median per-test wall time"], [
        ["`python -m unittest` (TextTestRunner)", f"{plain_median:.4f} ms"],
        ["tddkit runner", f"{tdd_median:.4f} ms"],
        ["difference", f"{tdd_median - plain_median:+.4f} ms per test (ratio {tdd_median / plain_median:.3f})"],
    ], f"a trivial TDDTestCase test, {args.tests} tests x {args.rounds} rounds, both runners alternating in one "
       "process on one server", server_version(tddkit.get_session().server_dsn))
    tddkit.close_session()


if __name__ == "__main__":
    main()
