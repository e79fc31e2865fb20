"""Per-test cost under pytest: the tddkit_conn fixture vs a TDDTestCase test vs a savepoint fixture by hand.

Writes a throwaway project with three test modules doing the same work per
test (INSERT a row, COUNT the rows): pytest functions using ``tddkit_conn``;
a ``tddkit.TDDTestCase``; and the floor, plain pytest functions on one
session-scoped psycopg connection with one ``SAVEPOINT`` set once and, in a
function fixture after each test, the statements tddkit itself sends in one
round trip (``ROLLBACK TO SAVEPOINT``, the release of session advisory locks,
the leak check's probe), run with the tddkit plugin disabled, on a
database holding only the schema. Each module is run by ``pytest`` with N
tests and with 1 test, on the same server (a tddkit session started here),
rounds alternating; per-test cost is ``(T(N) - T(1)) / (N - 1)`` of the whole
command. Prints medians and the median of each round's ratio to the floor.

    python benchmarks/pytest_cost.py [--tests 1000] [--rounds 5]
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
    TDDKIT_AFTER_TEST,
    checkout_env,
    floor_database,
    make_project,
    server_version,
    timed,
    vacuum_floor,
    write_fragment,
)

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


@pytest.fixture(scope="session")
def session_conn():
    with psycopg.connect(os.environ["FLOOR_DSN"]) as conn:
        conn.execute("SAVEPOINT t")
        yield conn
        conn.rollback()


@pytest.fixture
def conn(session_conn):
    yield session_conn
    session_conn.pgconn.exec_(AFTER_TEST)  # the statements tddkit sends, in one round trip
""".replace("AFTER_TEST", repr(TDDKIT_AFTER_TEST.encode()), 1)
    + "".join(f"\ndef test_{i}(conn):\n    conn = conn{WORK}" for i in range(n)),
}


def run_pytest(root: Path, variant: str, size: str, env: dict[str, str], server_dsn: str) -> float:
    plugin = ["-p", "no:tddkit"] if variant == "by_hand" else [f"--tddkit-dsn={server_dsn}"]
    return timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin,
                  f"test_{variant}_{size}.py"], root, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-pytest-cost-") as tmp:
        root = Path(tmp)
        make_project(root)
        for variant, make in MODULES.items():
            (root / f"test_{variant}_many.py").write_text(make(args.tests))
            (root / f"test_{variant}_one.py").write_text(make(1))
        session = tddkit.get_session(load_settings(targets=[tmp]))
        version = server_version(session.server_dsn)
        samples: dict[str, list[float]] = {variant: [] for variant in MODULES}
        try:
            with floor_database(session.server_dsn) as floor_dsn:
                env = checkout_env(FLOOR_DSN=floor_dsn)
                for _ in range(args.rounds):
                    for variant in MODULES:
                        vacuum_floor(floor_dsn)
                        many = run_pytest(root, variant, "many", env, session.server_dsn)
                        vacuum_floor(floor_dsn)
                        one = run_pytest(root, variant, "one", env, session.server_dsn)
                        samples[variant].append((many - one) * 1000 / (args.tests - 1))
        finally:
            tddkit.close_session()
    print(f"per-test cost under pytest, whole command, (T({args.tests}) - T(1)) / {args.tests - 1}; "
          f"{args.rounds} rounds alternating, medians; {os.cpu_count()} CPUs")
    print(f"{'variant':<58} {'ms per test':>12} {'vs by hand':>11}")
    names = {"fixture": "pytest + tddkit_conn", "testcase": "tddkit.TDDTestCase under pytest",
             "by_hand": "pytest + session connection, savepoint fixture by hand (tddkit's round trip)"}
    rows = []
    for variant, values in samples.items():
        ratios = [value / floor for value, floor in zip(values, samples["by_hand"], strict=True)]
        rows.append([names[variant], f"{statistics.median(values):.3f}", f"{statistics.median(ratios):.2f}x"])
        print(f"{rows[-1][0]:<58} {rows[-1][1]:>12} {rows[-1][2]:>11}")
    write_fragment("pytest_cost", ["variant", "ms per test", "vs by hand"], rows,
                   f"whole command, (T({args.tests}) - T(1)) / {args.tests - 1}, INSERT + COUNT per test, one server, "
                   f"{args.rounds} rounds alternating, medians; a ratio is the median of the rounds' ratios", version)


if __name__ == "__main__":
    main()
