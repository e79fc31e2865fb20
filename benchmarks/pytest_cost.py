"""Per-test cost under pytest: the tddkit_conn fixture vs a TDDTestCase test vs a transaction by hand.

Writes a throwaway project with three test modules doing the same work per
test (INSERT a row, COUNT the rows): pytest functions using ``tddkit_conn``;
a ``tddkit.TDDTestCase``; plain pytest functions on one psycopg connection
per module with ``SAVEPOINT`` / ``ROLLBACK TO SAVEPOINT`` around each test in
a fixture (what a careful team writes by hand). Each module is run by
``pytest`` with N tests and with 1 test, on the same server (a tddkit
session started here), rounds alternating; per-test cost is
``(T(N) - T(1)) / (N - 1)`` of the whole command. Prints medians and ratios.

    python benchmarks/pytest_cost.py [--tests 1000] [--rounds 3]
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

WORK = """
    conn.execute("INSERT INTO items (name) VALUES ('x')")
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)
"""

MODULES = {
    "fixture": lambda n: "".join(f"\ndef test_{i}(tddkit_conn):\n    conn = tddkit_conn{WORK}" for i in range(n)),
    "testcase": lambda n: "import tddkit\n\nclass Items(tddkit.TDDTestCase):\n" + "".join(
        f"\n    def test_{i}(self):\n        conn = self.conn{WORK.replace(chr(10) + '    ', chr(10) + '        ')}"
        for i in range(n)),
    "by_hand": lambda n: """import os

import psycopg
import pytest


@pytest.fixture(scope="module")
def module_conn():
    with psycopg.connect(os.environ["HAND_DSN"]) as conn:
        yield conn
        conn.rollback()


@pytest.fixture
def conn(module_conn):
    module_conn.execute("SAVEPOINT t")
    yield module_conn
    module_conn.execute("ROLLBACK TO SAVEPOINT t")
""" + "".join(f"\ndef test_{i}(conn):\n    conn = conn{WORK}" for i in range(n)),
}


def run_pytest(root: Path, module: str, env: dict[str, str], server_dsn: str) -> float:
    return timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", module,
                  f"--tddkit-dsn={server_dsn}"], root, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-pytest-cost-") as tmp:
        root = Path(tmp)
        make_project(root)
        for variant, make in MODULES.items():
            (root / f"test_{variant}_many.py").write_text(make(args.tests))
            (root / f"test_{variant}_one.py").write_text(make(1))
        session = tddkit.get_session(load_settings(targets=[tmp]))
        env = {**os.environ, "HAND_DSN": session.dsn}
        samples: dict[str, list[float]] = {variant: [] for variant in MODULES}
        for _ in range(args.rounds):
            for variant in MODULES:
                many = run_pytest(root, f"test_{variant}_many.py", env, session.server_dsn)
                one = run_pytest(root, f"test_{variant}_one.py", env, session.server_dsn)
                samples[variant].append((many - one) * 1000 / (args.tests - 1))
        version = server_version(session.server_dsn)
        tddkit.close_session()
    medians = {variant: statistics.median(values) for variant, values in samples.items()}
    print(f"per-test cost under pytest, whole command, (T({args.tests}) - T(1)) / {args.tests - 1}; "
          f"{args.rounds} rounds alternating, medians; {os.cpu_count()} CPUs")
    print(f"{'variant':<42} {'ms per test':>12} {'vs by hand':>11}")
    names = {"fixture": "pytest + tddkit_conn", "testcase": "tddkit.TDDTestCase under pytest",
             "by_hand": "pytest + SAVEPOINT/ROLLBACK TO fixture by hand"}
    for variant, median in medians.items():
        print(f"{names[variant]:<42} {median:>12.3f} {median / medians['by_hand']:>10.2f}x")
    labels = {"fixture": "pytest + `tddkit_conn` (measured: every metric recorded)",
              "testcase": "`tddkit.TDDTestCase` under pytest",
              "by_hand": "pytest + a `SAVEPOINT` / `ROLLBACK TO` fixture written by hand"}
    write_fragment("pytest_cost", ["variant", "ms per test", "vs by hand"],
                   [[labels[v], f"{m:.3f}", f"{m / medians['by_hand']:.2f}x"] for v, m in medians.items()],
                   f"whole command, (T({args.tests}) - T(1)) / {args.tests - 1}, INSERT + COUNT per test, one server, "
                   f"{args.rounds} rounds alternating, medians", version)


if __name__ == "__main__":
    main()
