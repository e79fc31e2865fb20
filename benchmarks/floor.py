"""tddkit's per-test cost against the floor: a hand-written unittest suite doing the same work.

Writes a throwaway project with two test modules doing the same work per test
(INSERT a row, COUNT the rows): a plain ``unittest.TestCase`` holding one
psycopg connection per class with ``SAVEPOINT`` in setUp and ``ROLLBACK TO
SAVEPOINT`` in tearDown, run by ``python -m unittest``; and a
``tddkit.TDDTestCase``, run by ``python -m tddkit run --no-report`` (every
metric is still recorded). Both use the same server (a tddkit session started
here). Each is run with N+1 tests and with 1 test, alternating, for several
rounds; per-test cost is ``(T(N+1) - T(1)) / N`` of the whole process.

    python benchmarks/floor.py [--tests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import tddkit
from tddkit.config.settings import load_settings

from _project import make_project, server_version, timed, write_fragment

BODY = """
    def test_{i}(self):
        self.conn.execute("INSERT INTO items (name) VALUES ('x')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM items").fetchone(), (1,))
"""

HAND = """import os
import unittest

import psycopg


class Items(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.conn = psycopg.connect(os.environ["HAND_DSN"])

    @classmethod
    def tearDownClass(cls):
        cls.conn.rollback()
        cls.conn.close()

    def setUp(self):
        self.conn.execute("SAVEPOINT t")

    def tearDown(self):
        self.conn.execute("ROLLBACK TO SAVEPOINT t")
"""

TDDKIT = """import tddkit


class Items(tddkit.TDDTestCase):
    pass
"""


def write(root: Path, name: str, header: str, tests: int) -> None:
    (root / f"{name}.py").write_text(header + "".join(BODY.format(i=i) for i in range(tests)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-floor-") as tmp:
        root = Path(tmp)
        make_project(root)
        for size, tests in (("many", args.tests + 1), ("one", 1)):
            write(root, f"test_hand_{size}", HAND, tests)
            write(root, f"test_tddkit_{size}", TDDKIT, tests)
        session = tddkit.get_session(load_settings(targets=[tmp]))
        env = {**os.environ, "HAND_DSN": session.dsn}
        commands = {
            "hand": lambda size: [sys.executable, "-m", "unittest", f"test_hand_{size}"],
            "tddkit": lambda size: [sys.executable, "-m", "tddkit", "run", f"test_tddkit_{size}.py", "-q",
                                    "--no-report", "--dsn", session.server_dsn],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                many, one = timed(command("many"), root, env), timed(command("one"), root, env)
                samples[name].append((many - one) * 1000 / args.tests)
        version = server_version(session.server_dsn)
        tddkit.close_session()
    hand, ours = statistics.median(samples["hand"]), statistics.median(samples["tddkit"])
    print(f"per test, whole process, (T({args.tests + 1}) - T(1)) / {args.tests}; INSERT + COUNT; "
          f"{args.rounds} rounds alternating, medians; {os.cpu_count()} CPUs")
    print(f"  hand-written unittest, SAVEPOINT / ROLLBACK TO (python -m unittest): {hand:.3f} ms")
    print(f"  tddkit.TDDTestCase (python -m tddkit run, every metric recorded):    {ours:.3f} ms")
    print(f"  ratio tddkit / hand-written: {ours / hand:.2f}x")
    write_fragment("floor", ["runner", "ms per test", "vs hand-written"], [
        ["hand-written `unittest.TestCase`: one connection, `SAVEPOINT` / `ROLLBACK TO` (`python -m unittest`)",
         f"{hand:.3f}", "1.00x"],
        ["`tddkit.TDDTestCase` (`python -m tddkit run`, every metric recorded)", f"{ours:.3f}", f"{ours / hand:.2f}x"],
    ], f"whole process, (T({args.tests + 1}) - T(1)) / {args.tests}, INSERT + COUNT per test, {args.rounds} rounds "
       "alternating, medians", version)


if __name__ == "__main__":
    main()
