"""tddkit's per-test cost against the floor in CPU instructions of the test process, which a busy machine moves little.

The same suites as ``floor.py`` (INSERT + COUNT per test, classes of 100; the
floor on one connection with tddkit's round trip after each test) run under
valgrind's callgrind, which counts the instructions the test process executes
(its own, not the server's): the same code on the same inputs gives nearly the
same count whatever else the machine does (only the wait for the server's
answers loops more on a busy machine: about 2% between an idle and a busy run),
so one round is enough and a change of a few percent shows. Per test: ``(Ir(N+1 tests) - Ir(1 test)) / N``. Under
callgrind a run is about 50 times slower. ``--against`` adds the tddkit of
another checkout. Writes its table to ``docs/measured/instructions.md`` (not
with ``--against``).

    python benchmarks/instructions.py [--tests 2000] [--against OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _project import (  # this checkout's tddkit first on the path
    against_name,
    checkout_env,
    floor_command,
    measured,
    suites_on_a_server,
    tddkit_runs,
    vacuum_floor,
    write_fragment,
)

NAMES = {
    "floor": "floor: hand-written unittest, SAVEPOINT per class, tddkit's round trip per test",
    "tddkit": "python -m tddkit run (report printed)",
    "no_report": "python -m tddkit run --no-report",
}


def instructions(command: list[str], root: Path, env: dict[str, str]) -> int:
    """Instructions the command's process executed (callgrind's total)."""
    out = root / "callgrind.out"
    measured(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], root, env)
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no total in callgrind's output of {' '.join(command)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--against", metavar="CHECKOUT", help="also the tddkit of another checkout")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian, Ubuntu: apt-get install valgrind)")
    names = list(NAMES)
    if args.against:
        names.append("against")
        NAMES["against"] = against_name(parser, args.against)
    per_test: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tddkit-instructions-") as tmp, \
            suites_on_a_server(Path(tmp), args.tests) as (server_dsn, floor_dsn, version):
        root = Path(tmp)
        env = checkout_env(FLOOR_DSN=floor_dsn)
        commands = {"floor": lambda size: (floor_command(f"floor_{size}"), env),
                    **tddkit_runs(server_dsn, env, args.against)}
        for name in names:
            counts = []
            for size in ("many", "one"):
                vacuum_floor(floor_dsn)
                command, command_env = commands[name](size)
                counts.append(instructions(command, root, command_env))
            per_test[name] = (counts[0] - counts[1]) / args.tests
    print(f"instructions of the test process per test, (Ir({args.tests + 1}) - Ir(1)) / {args.tests}, callgrind; "
          "INSERT + COUNT, classes of 100")
    rows = []
    for name, count in per_test.items():
        ratio = f"{count / per_test['floor']:.2f}x"
        rows.append([NAMES[name], f"{count / 1000:,.0f}", ratio])
        print(f"{NAMES[name]:<84} {count / 1000:>9,.0f}K {ratio:>6}")
    if not args.against:
        write_fragment("instructions", ["per test", "thousand instructions", "vs floor"], rows,
                       f"callgrind, the test process only, (Ir({args.tests + 1}) - Ir(1)) / {args.tests}, INSERT + "
                       "COUNT per test, classes of 100", version)


if __name__ == "__main__":
    main()
