"""Per-test cost of async tests against hand-written async savepoint tests, whole process.

Same work per test (INSERT a row, COUNT the rows on one AsyncConnection), four
ways: a hand-written ``unittest.IsolatedAsyncioTestCase`` with one
``SAVEPOINT`` and a ``ROLLBACK TO SAVEPOINT`` after each test (``python -m
unittest``) against ``tddkit.AsyncTDDTestCase`` (``python -m tddkit run``,
report printed); and under pytest-asyncio a hand-written async fixture on a
session connection against ``tddkit_async_conn``. Per test is ``(T(N+1) -
T(1)) / N`` of the whole command, several rounds alternating, medians.

    python benchmarks/async_cost.py [--tests 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import tddkit
from tddkit.config.settings import load_settings

from _project import make_project, per_test_ms, server_version, write_fragment

WORK = """
        await self.conn.execute("INSERT INTO items (name) VALUES ('x')")
        cursor = await self.conn.execute("SELECT count(*) FROM items")
        self.assertEqual(await cursor.fetchone(), (1,))
"""
UNITTEST_HAND = """import os
import unittest

import psycopg


class Items(unittest.IsolatedAsyncioTestCase):
    conn = None

    async def asyncSetUp(self):
        if Items.conn is None:
            Items.conn = await psycopg.AsyncConnection.connect(os.environ["HAND_DSN"])
            await Items.conn.execute("SAVEPOINT t")

    async def asyncTearDown(self):
        await self.conn.execute("ROLLBACK TO SAVEPOINT t")
"""
UNITTEST_TDDKIT = """import tddkit


class Items(tddkit.AsyncTDDTestCase):
    pass
"""
PYTEST_WORK = """
@pytest.mark.asyncio
async def test_{i}(conn):
    await conn.execute("INSERT INTO items (name) VALUES ('x')")
    cursor = await conn.execute("SELECT count(*) FROM items")
    assert await cursor.fetchone() == (1,)
"""
PYTEST_HAND = """import os

import psycopg
import pytest
import pytest_asyncio


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_conn():
    conn = await psycopg.AsyncConnection.connect(os.environ["HAND_DSN"])
    await conn.execute("SAVEPOINT t")
    yield conn
    await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def conn(session_conn):
    yield session_conn
    await session_conn.execute("ROLLBACK TO SAVEPOINT t")
"""
PYTEST_TDDKIT = """import pytest


@pytest.fixture
def conn(tddkit_async_conn):
    return tddkit_async_conn
"""


def write(root: Path, name: str, header: str, body: str, tests: int) -> None:
    if "class Items" in header:
        text = header + "".join(f"\n    async def test_{i}(self):{body}" for i in range(tests))
    else:
        text = header + "".join(body.format(i=i) for i in range(tests))
    (root / f"{name}.py").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-async-") as tmp:
        root = Path(tmp)
        make_project(root)
        (root / "pyproject.toml").write_text(
            (root / "pyproject.toml").read_text() + '\n[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = '
            '"session"\nasyncio_default_test_loop_scope = "session"\n')
        for size, tests in (("many", args.tests + 1), ("one", 1)):
            write(root, f"test_ut_hand_{size}", UNITTEST_HAND, WORK, tests)
            write(root, f"test_ut_tddkit_{size}", UNITTEST_TDDKIT, WORK, tests)
            write(root, f"test_pt_hand_{size}", PYTEST_HAND, PYTEST_WORK, tests)
            write(root, f"test_pt_tddkit_{size}", PYTEST_TDDKIT, PYTEST_WORK, tests)
        session = tddkit.get_session(load_settings(targets=[tmp]))
        env = {**os.environ, "HAND_DSN": session.dsn}
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:anyio"]
        commands = {
            "unittest hand": lambda size: [sys.executable, "-m", "unittest", f"test_ut_hand_{size}"],
            "unittest tddkit": lambda size: [sys.executable, "-m", "tddkit", "run", f"test_ut_tddkit_{size}.py", "-q",
                                             "--dsn", session.server_dsn],
            "pytest hand": lambda size: [*pytest, "-p", "no:tddkit", f"test_pt_hand_{size}.py"],
            "pytest tddkit": lambda size: [*pytest, f"test_pt_tddkit_{size}.py", f"--tddkit-dsn={session.server_dsn}"],
        }
        median = per_test_ms(commands, root, env, args.rounds, args.tests)
        version = server_version(session.server_dsn)
        tddkit.close_session()
    rows = []
    for runner in ("unittest", "pytest"):
        hand, ours = median[f"{runner} hand"], median[f"{runner} tddkit"]
        rows.append([f"{runner}: hand-written async savepoint", f"{hand:.3f}", "1.00x"])
        what = "AsyncTDDTestCase, report printed" if runner == "unittest" else "tddkit_async_conn"
        rows.append([f"{runner}: tddkit ({what})", f"{ours:.3f}", f"{ours / hand:.2f}x"])
    for row in rows:
        print(f"  {row[0]:<52} {row[1]:>8} ms  {row[2]}")
    write_fragment("async_cost", ["variant", "ms per test", "vs hand-written"], rows,
                   f"whole process, (T({args.tests + 1}) - T(1)) / {args.tests}, INSERT + COUNT per test on one "
                   f"AsyncConnection, {args.rounds} rounds alternating, medians", version)


if __name__ == "__main__":
    main()
