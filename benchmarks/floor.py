"""tddkit's per-test cost against the floor: a hand-written unittest suite doing the same work.

Writes a throwaway project with suites doing the same work per test (INSERT a
row, COUNT the rows) in classes of 100 tests: the floor, plain
``unittest.TestCase`` classes on one psycopg connection with one ``SAVEPOINT``
per class and, after each test, the statements tddkit sends in one round trip
(``ROLLBACK TO SAVEPOINT``, the release of session advisory locks, the leak
check's probe), run by ``python -m unittest``, on a database holding only the
schema; and ``tddkit.TDDTestCase``
classes run by ``python -m tddkit run`` as users run it (the report printed),
and with ``--no-report``. All use the same server (a tddkit session started
here). Each is run with N+1 tests and with 1 test, alternating, for several
rounds (every other round in reverse order); per-test cost is ``(T(N+1) - T(1)) / N`` of the whole process. Prints
the medians and the median of each round's ratio to the floor: wall time, and
the CPU time of the test process and of the server (all its processes), which
other work on a busy machine disturbs less. ``--breakdown`` adds floors that do
less or otherwise, to show what parts cost: a bare ``ROLLBACK TO SAVEPOINT``
after each test (no lock release, no leak probe), and statements never
prepared (``prepare_threshold = 0``). ``--cpus 1`` runs everything (the commands and the server) on one CPU, so
that CPU is the bottleneck whatever the machine: the wall time is then the test process's CPU plus the server's,
with no overlap of the two and no wake-up across CPUs. ``--against`` adds the tddkit of another checkout
(an earlier version) to the same rounds. Writes its table to
``docs/measured/floor.md`` (not with ``--against``).

    python benchmarks/floor.py [--tests 2000] [--rounds 5] [--breakdown] [--cpus N] [--against OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from _project import (  # this checkout's tddkit first on the path
    ServerCpu,
    against_name,
    checkout_env,
    floor_command,
    measured,
    pin_to_cpus,
    suites_on_a_server,
    tddkit_runs,
    vacuum_floor,
    write_fragment,
)

NAMES = {
    "floor": "floor: hand-written unittest, SAVEPOINT per class, tddkit's round trip per test",
    "bare": "  floor with a bare ROLLBACK TO per test (no lock release, no leak probe)",
    "unprepared": "  floor, statements never prepared (prepare_threshold = 0)",
    "tddkit": "python -m tddkit run (report printed)",
    "no_report": "python -m tddkit run --no-report",
}
#: The breakdown's floor variants: what the floor's connection does like tddkit's (see _project.FLOOR_SUPPORT).
UNPREPARED = {"FLOOR_PREPARE": "no"}
#: The rollback alone after each test, sent as a team writes it with psycopg (``conn.execute``).
BARE = {"FLOOR_AFTER_TEST": "ROLLBACK TO SAVEPOINT t"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true", help="also the floors that do part of tddkit's work")
    parser.add_argument("--against", metavar="CHECKOUT", help="also the tddkit of another checkout (an earlier "
                        "version), measured in the same rounds; its table is not written to the docs")
    parser.add_argument("--cpus", type=int, metavar="N", help="run the commands and the server on N CPUs only "
                        "(1: the CPU is the bottleneck); the table is then written to docs/measured/floor_cpus_N.md")
    args = parser.parse_args()
    if args.cpus is not None and not 1 <= args.cpus <= len(os.sched_getaffinity(0)):
        parser.error(f"--cpus {args.cpus}: give a number from 1 to the {len(os.sched_getaffinity(0))} CPUs here")
    cpus = pin_to_cpus(args.cpus) if args.cpus else None
    names = [name for name in NAMES if args.breakdown or name not in ("bare", "unprepared")]
    if args.against:
        names.append("against")
        NAMES["against"] = against_name(parser, args.against)
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": [], "server": []} for name in names}
    with tempfile.TemporaryDirectory(prefix="tddkit-floor-") as tmp, \
            suites_on_a_server(Path(tmp), args.tests) as (server_dsn, floor_dsn, version):
        root = Path(tmp)
        server = ServerCpu(server_dsn)
        if cpus:
            server.pin(cpus)  # also a server that was running already
        floor = checkout_env(FLOOR_DSN=floor_dsn)
        commands = {  # (command, environment, database to vacuum first)
            "floor": lambda size: (floor_command(f"floor_{size}"), floor, floor_dsn),
            "bare": lambda size: (floor_command(f"floor_{size}"), {**floor, **BARE}, floor_dsn),
            "unprepared": lambda size: (floor_command(f"floor_{size}"), {**floor, **UNPREPARED}, floor_dsn),
        }
        for name, run in tddkit_runs(server_dsn, floor, args.against).items():
            commands[name] = lambda size, run=run: (*run(size), None)  # a fresh clone: nothing to vacuum
        for round_number in range(args.rounds):
            # Every other round in reverse order: what one command leaves the server doing (a tddkit run drops its
            # database: a checkpoint) falls on each of the others in turn.
            for name in names if round_number % 2 == 0 else names[::-1]:
                runs = []
                for size in ("many", "one"):
                    command, env, database = commands[name](size)
                    if database:
                        vacuum_floor(database)
                    runs.append(measured(command, root, env, server))
                many, one = runs
                for key, field in (("wall", "wall"), ("cpu", "cpu"), ("server", "server_cpu")):
                    samples[name][key].append((getattr(many, field) - getattr(one, field)) * 1000 / args.tests)
    print(f"per test, whole process, (T({args.tests + 1}) - T(1)) / {args.tests}; INSERT + COUNT, classes of 100; "
          f"{args.rounds} rounds alternating (every other reversed), medians (ratio: median of the rounds' ratios); "
          f"{os.cpu_count()} CPUs" + (f", everything pinned to {len(cpus)}" if cpus else ""))
    print(f"{'command':<72} {'wall ms':>8} {'ratio':>6} {'CPU ms':>7} {'ratio':>6} {'server':>7} {'ratio':>6}")
    floor, rows = samples["floor"], []
    for name, values in samples.items():
        cells = []
        for key in ("wall", "cpu", "server"):
            ratios = [v / f for v, f in zip(values[key], floor[key], strict=True) if f > 0]
            cells += [f"{statistics.median(values[key]):.3f}", f"{statistics.median(ratios) if ratios else 0:.2f}x"]
        rows.append([NAMES[name].strip(), *cells])
        print(f"{NAMES[name]:<72} {cells[0]:>8} {cells[1]:>6} {cells[2]:>7} {cells[3]:>6} {cells[4]:>7} {cells[5]:>6}")
    print("wall: the whole command; CPU: the test process (user + system); server: every process of the server")
    if args.against:
        return  # a comparison with another version, not the docs' table
    pinned = f", the commands and the server pinned to {args.cpus} CPU{'s' * (args.cpus > 1)}" if cpus else ""
    write_fragment(f"floor_cpus_{args.cpus}" if cpus else "floor",
                   ["per test", "wall ms", "vs floor", "CPU ms", "vs floor", "server CPU ms", "vs floor"],
                   rows, f"whole process, (T({args.tests + 1}) - T(1)) / {args.tests}, INSERT + COUNT per test, "
                   f"classes of 100, {args.rounds} rounds alternating (every other reversed), medians; a ratio is the "
                   f"median of the rounds' ratios{pinned}", version,
                   command=f"python benchmarks/floor.py --cpus {args.cpus}" if cpus else "")


if __name__ == "__main__":
    main()
