"""Large suites: wall time and peak RSS of tddkit as a CI job runs it, against the floor, at 1k / 5k / 20k tests.

Writes suites of N tests doing the same work per test (INSERT a row, COUNT
the rows) in classes of 100 and modules of 1,000: the floor (plain
``unittest.TestCase`` classes on one connection, one ``SAVEPOINT`` per class,
after each test the statements tddkit sends in one round trip, ``python -m
unittest``, on a database holding only the schema) and ``tddkit.TDDTestCase`` classes run by
``python -m tddkit run`` with the report, ``--json`` and ``--junit-xml``,
serially and with ``--parallel 2``. Rounds alternate; each figure is the median
over rounds. CPU is the command's (with its children) plus the server's. Peak
RSS is the largest resident set of the command's processes (``wait4``: the
run, or its largest parallel worker). Memory must stay flat per test: tddkit's
RSS minus the floor's should not grow with N.

    python benchmarks/scale.py [--sizes 1000,5000,20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tddkit  # noqa: E402  (this checkout's)
from tddkit.config.settings import load_settings  # noqa: E402

from _project import (  # noqa: E402
    ServerCpu,
    checkout_env,
    floor_command,
    floor_database,
    make_project,
    measured,
    tddkit_command,
    vacuum_floor,
    write_suite,
)

MB = 2**20
#: Goals: wall against the floor's, and peak RSS above the floor's (per process).
WALL_RATIO = 1.10
#: The wall goal is for suites this large: below it the run's start (session, template check, clone) weighs.
WALL_GOAL_TESTS = 20_000
RSS_ABOVE_MB = 40
CI_OPTIONS = ("--json", "report.json", "--junit-xml", "report.xml")
NAMES = {
    "floor": "floor (python -m unittest)",
    "tddkit": "tddkit run, report + --json + --junit-xml",
    "parallel": "same, --parallel 2 (largest process)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="numbers of tests, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    walls: dict[tuple[str, int], list[float]] = {}
    cpus: dict[tuple[str, int], list[float]] = {}
    peaks: dict[tuple[str, int], list[int]] = {}
    files: dict[int, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="tddkit-scale-") as tmp:
        root = Path(tmp)
        make_project(root)
        for size in sizes:
            write_suite(root, f"floor_{size}", "floor", size)
            write_suite(root, f"tddkit_{size}", "tddkit", size)
        session = tddkit.get_session(load_settings(targets=[tmp]))
        try:
            server = ServerCpu(session.server_dsn)
            with floor_database(session.server_dsn) as floor_dsn:
                env = checkout_env(FLOOR_DSN=floor_dsn)
                commands = {
                    "floor": lambda n: floor_command(f"floor_{n}"),
                    "tddkit": lambda n: tddkit_command(f"tddkit_{n}", session.server_dsn, *CI_OPTIONS),
                    "parallel": lambda n: tddkit_command(f"tddkit_{n}", session.server_dsn, *CI_OPTIONS,
                                                         "--parallel", "2"),
                }
                for _ in range(args.rounds):
                    for size in sizes:
                        for name, command in commands.items():
                            vacuum_floor(floor_dsn)
                            done = measured(command(size), root, env, server)
                            walls.setdefault((name, size), []).append(done.wall)
                            cpus.setdefault((name, size), []).append(done.cpu + done.server_cpu)
                            peaks.setdefault((name, size), []).append(done.peak_rss)
                            if name == "tddkit":
                                files[size] = ((root / "report.json").stat().st_size,
                                               (root / "report.xml").stat().st_size)
        finally:
            tddkit.close_session()
    print(f"whole process, INSERT + COUNT per test, classes of 100; {args.rounds} rounds alternating, medians "
          f"(ratios: median of the rounds' ratios); {os.cpu_count()} CPUs")
    print(f"{'command':<42} {'tests':>6} {'wall s':>7} {'ratio':>6} {'CPU s':>6} {'ratio':>6} {'peak MB':>8} "
          f"{'- floor':>8} {'KB/test':>8}")
    failed = []

    def ratio(values: dict[tuple[str, int], list[float]], name: str, size: int) -> float:
        return statistics.median(v / f for v, f in zip(values[name, size], values["floor", size], strict=True))

    for name in NAMES:
        for size in sizes:
            wall, wall_ratio = statistics.median(walls[name, size]), ratio(walls, name, size)
            cpu, cpu_ratio = statistics.median(cpus[name, size]), ratio(cpus, name, size)
            peak = statistics.median(peaks[name, size]) / MB
            above = peak - statistics.median(peaks["floor", size]) / MB
            per_test = (peak - statistics.median(peaks[name, sizes[0]]) / MB) * 1024 / (size - sizes[0]) \
                if size != sizes[0] else 0.0
            print(f"{NAMES[name]:<42} {size:>6} {wall:>7.2f} {wall_ratio:>5.2f}x {cpu:>6.2f} {cpu_ratio:>5.2f}x "
                  f"{peak:>8.1f} {above:>+8.1f} {per_test:>8.2f}")
            if name != "floor" and (above > RSS_ABOVE_MB or (name == "tddkit" and size >= WALL_GOAL_TESTS
                                                                   and wall_ratio > WALL_RATIO)):
                failed.append(f"{NAMES[name]} at {size}: {wall_ratio:.2f}x the floor's wall, {above:+.1f} MB")
    for size, (json_size, xml_size) in sorted(files.items()):
        print(f"  {size} tests: JSON {json_size / MB:.1f} MB, JUnit XML {xml_size / MB:.1f} MB")
    print(f"goals: wall <= {WALL_RATIO:.2f}x the floor's (serial, at {WALL_GOAL_TESTS:,} tests and more), peak RSS "
          f"<= the floor's + {RSS_ABOVE_MB} MB (every process); CPU: the command's processes and the server's; "
          "KB/test: peak RSS growth per test from the smallest size")
    for line in failed:
        print(f"  over a goal: {line}")


if __name__ == "__main__":
    main()
