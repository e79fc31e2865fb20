"""tddkit's per-test cost against the floor: a hand-written unittest suite doing the same work.

Writes a throwaway project with suites doing the same work per test (INSERT a
row, COUNT the rows) in classes of 100 tests: the floor, plain
``unittest.TestCase`` classes on one psycopg connection with one ``SAVEPOINT``
per class and ``ROLLBACK TO SAVEPOINT`` after each test, run by ``python -m
unittest``, on a database holding only the schema; and ``tddkit.TDDTestCase``
classes run by ``python -m tddkit run`` as users run it (the report printed),
and with ``--no-report``. All use the same server (a tddkit session started
here). Each is run with N+1 tests and with 1 test, alternating, for several
rounds; per-test cost is ``(T(N+1) - T(1)) / N`` of the whole process. Prints
the medians and the median of each round's ratio to the floor.

    python benchmarks/floor.py [--tests 2000] [--rounds 5]
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
    checkout_env,
    floor_command,
    floor_database,
    make_project,
    tddkit_command,
    timed,
    write_suite,
)

NAMES = {
    "floor": "hand-written unittest: SAVEPOINT per class, ROLLBACK TO per test",
    "tddkit": "python -m tddkit run (report printed)",
    "no_report": "python -m tddkit run --no-report",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in NAMES}
    with tempfile.TemporaryDirectory(prefix="tddkit-floor-") as tmp:
        root = Path(tmp)
        make_project(root)
        for size, tests in (("many", args.tests + 1), ("one", 1)):
            write_suite(root, f"floor_{size}", "floor", tests)
            write_suite(root, f"tddkit_{size}", "tddkit", tests)
        session = tddkit.get_session(load_settings(targets=[tmp]))
        try:
            with floor_database(session.server_dsn) as floor_dsn:
                env = checkout_env(FLOOR_DSN=floor_dsn)
                commands = {
                    "floor": lambda size: floor_command(f"floor_{size}"),
                    "tddkit": lambda size: tddkit_command(f"tddkit_{size}", session.server_dsn),
                    "no_report": lambda size: tddkit_command(f"tddkit_{size}", session.server_dsn, "--no-report"),
                }
                for _ in range(args.rounds):
                    for name, command in commands.items():
                        many, one = timed(command("many"), root, env), timed(command("one"), root, env)
                        samples[name].append((many - one) * 1000 / args.tests)
        finally:
            tddkit.close_session()
    print(f"per test, whole process, (T({args.tests + 1}) - T(1)) / {args.tests}; INSERT + COUNT, classes of 100; "
          f"{args.rounds} rounds alternating, medians; {os.cpu_count()} CPUs")
    print(f"{'command':<68} {'ms per test':>11} {'vs floor':>9}")
    for name, values in samples.items():
        ratios = [value / floor for value, floor in zip(values, samples["floor"], strict=True)]
        print(f"{NAMES[name]:<68} {statistics.median(values):>11.3f} {statistics.median(ratios):>8.2f}x")


if __name__ == "__main__":
    main()
