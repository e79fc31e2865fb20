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
with ``--against``). ``--parts`` also runs ``--no-report`` with one part of
tddkit's per-test work switched off at a time (``_without.py``: the records, the
statement statistics, the RSS reading) and writes what each part costs to
``docs/measured/instructions_parts.md``.

    python benchmarks/instructions.py [--tests 2000] [--against OTHER_CHECKOUT] [--parts]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
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
#: ``--parts``: what ``_without.py`` switches off, as the parts table names it.
PARTS = {
    "records": "the run's records (RunRecords.add)",
    "statements": "statement statistics (count, time and shape of each statement; N+1 detection)",
    "rss": "the RSS reading after each test",
}
WITHOUT = Path(__file__).resolve().parent / "_without.py"


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
    parser.add_argument("--parts", action="store_true", help="also what each part of tddkit's per-test work costs")
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
        if args.parts:
            for part in PARTS:
                commands[part] = functools.partial(_without, part, server_dsn, env)
        for name in [*names, *(PARTS if args.parts else ())]:
            counts = []
            for size in ("many", "one"):
                vacuum_floor(floor_dsn)
                command, command_env = commands[name](size)
                counts.append(instructions(command, root, command_env))
            per_test[name] = (counts[0] - counts[1]) / args.tests
    how = (f"callgrind, the test process only, (Ir({args.tests + 1}) - Ir(1)) / {args.tests}, INSERT + COUNT per "
           "test, classes of 100")
    print(f"instructions of the test process per test, {how}")
    rows = []
    for name in names:
        count = per_test[name]
        ratio = f"{count / per_test['floor']:.2f}x"
        rows.append([NAMES[name], f"{count / 1000:,.0f}", ratio])
        print(f"{NAMES[name]:<84} {count / 1000:>9,.0f}K {ratio:>6}")
    if not args.against:
        write_fragment("instructions", ["per test", "thousand instructions", "vs floor"], rows, how, version)
    if args.parts:
        _print_parts(per_test, how, version, write=not args.against)


def _without(part: str, server_dsn: str, env: dict[str, str], size: str) -> tuple[list[str], dict[str, str]]:
    """``--no-report`` with ``part`` of tddkit's per-test work switched off, on the suite of ``size``."""
    return [sys.executable, str(WITHOUT), part, "run", f"tddkit_{size}", "--dsn", server_dsn, "--no-report"], env


def _print_parts(per_test: dict[str, float], how: str, version: str, write: bool) -> None:
    """What each part of tddkit's per-test work costs: the instructions a run saves without it."""
    gap = per_test["tddkit"] - per_test["floor"]
    costs = {"the printed report (the run's statistics, tables; at this many tests)":
             per_test["tddkit"] - per_test["no_report"]}
    costs.update({PARTS[part]: per_test["no_report"] - per_test[part] for part in PARTS})
    costs["the rest: TDDTestCase's hooks, the meter, the class transaction and rollback, the leak probe"] = \
        gap - sum(costs.values())
    print(f"\nwhere tddkit's {gap / 1000:,.0f}K instructions a test above the floor go ({how})")
    rows = []
    for what, cost in costs.items():
        rows.append([what, f"{cost / 1000:,.0f}", f"{cost / gap:.0%}"])
        print(f"{what:<100} {cost / 1000:>7,.0f}K {cost / gap:>5.0%}")
    if write:
        write_fragment("instructions_parts", ["part of tddkit's per-test work", "thousand instructions",
                                              "share of tddkit's"], rows,
                       how + "; a part's cost is what a run with `--no-report` saves without it", version,
                       command="python benchmarks/instructions.py --parts")


if __name__ == "__main__":
    main()
