"""What the per-test timeout costs: the same trivial suite with ``test_timeout`` off and on, alternating.

One process, one session; each round runs the suite once with the timer off
(``test_timeout = 0``) and once on (30 s, never reached); each round's wall
time divided by the number of tests is one sample. Also times the timer's
arm + disarm pair alone. Prints the medians.

    python benchmarks/timeout_cost.py [--tests 2000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tddkit  # noqa: E402
from tddkit.isolation import timeouts  # noqa: E402
from tddkit.testcase.runner import TDDTestRunner  # noqa: E402

from _project import server_version, write_fragment  # noqa: E402


class Trivial(tddkit.TDDTestCase):
    def test_nothing(self):
        pass


def per_test_ms(tests: int, timeout: float) -> float:
    tddkit.get_session().settings.test_timeout = timeout  # read by setUpClass
    suite = unittest.TestSuite(Trivial("test_nothing") for _ in range(tests))
    runner = TDDTestRunner(stream=io.StringIO(), verbosity=0, show_report=False, closing_line=False)
    started = time.perf_counter()
    result = runner.run(suite)
    elapsed = time.perf_counter() - started
    assert result.wasSuccessful() and result.testsRun == tests
    return elapsed * 1000 / tests


def arm_disarm_us(rounds: int = 100_000) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        timeouts.arm(30.0)
        timeouts.disarm()
    return (time.perf_counter() - started) * 1e6 / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    tddkit.get_session()
    off, on = [], []
    for _ in range(args.rounds):
        off.append(per_test_ms(args.tests, 0.0))
        on.append(per_test_ms(args.tests, 30.0))
    off_median, on_median = statistics.median(off), statistics.median(on)
    print(f"trivial TDDTestCase test, {args.tests} tests x {args.rounds} rounds, median per-test wall time")
    print(f"  test_timeout off : {off_median:.4f} ms")
    print(f"  test_timeout on  : {on_median:.4f} ms ({(on_median - off_median) * 1000:+.1f} µs per test)")
    alone = arm_disarm_us()
    print(f"  arm + disarm alone: {alone:.2f} µs")
    write_fragment("timeout_cost", ["test_timeout", "median per-test wall time"], [
        ["off (`0`, the default: no timer)", f"{off_median:.4f} ms"],
        ["on (30 s, never reached)", f"{on_median:.4f} ms ({(on_median - off_median) * 1000:+.1f} µs per test)"],
        ["the timer's arm + disarm alone", f"{alone:.2f} µs"],
    ], f"a trivial TDDTestCase test, {args.tests} tests x {args.rounds} rounds, off and on alternating in one process",
        server_version(tddkit.get_session().server_dsn))
    tddkit.close_session()


if __name__ == "__main__":
    main()
