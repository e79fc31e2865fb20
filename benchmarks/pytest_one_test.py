"""A one-test pytest run: tddkit's plugin vs a hand-written fixture, both on a server that is already running.

Writes a throwaway project: a small service module (SQLAlchemy models when
SQLAlchemy is installed, what a service's tests import) and two one-test
modules doing the same work (INSERT a row, COUNT the rows): one with
``tddkit_conn`` (``pytest --tddkit-dsn``: tddkit makes its test database
from the schema template, drops it at the end), one with a fixture by hand
(a psycopg connection to a database that already holds the schema,
``SAVEPOINT`` / ``ROLLBACK TO SAVEPOINT`` around the test, run with ``-p
no:tddkit``: the team's setup before tddkit). Both run on the same server,
started here. Whole command, rounds alternating after one warm-up run
each; Python's bytecode cache is on (in a temporary directory), as on a
developer's machine; ``--no-bytecode-cache`` runs as with
PYTHONDONTWRITEBYTECODE=1 instead. Prints the medians of wall time (the
goal) and of CPU time (user + system, less sensitive to a busy machine),
and their ratios.

    python benchmarks/pytest_one_test.py [--rounds 11] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

import tddkit
from tddkit.config.settings import load_settings

from _project import make_project, timed

SERVICE = """
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String)
""" if importlib.util.find_spec("sqlalchemy") else "import json  # noqa: F401\n"

WORK = """
    conn.execute("INSERT INTO items (name) VALUES ('x')")
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)
"""

MODULES = {
    "tddkit": "import service  # noqa: F401\n\n\ndef test_one(tddkit_conn):\n    conn = tddkit_conn" + WORK,
    "by_hand": """import os

import psycopg
import pytest

import service  # noqa: F401


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


def test_one(conn):
""" + WORK,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--no-bytecode-cache", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tddkit-pytest-one-") as tmp:
        root = Path(tmp)
        make_project(root)
        (root / "service.py").write_text(SERVICE)
        for variant, source in MODULES.items():
            (root / f"test_{variant}.py").write_text(source)
        session = tddkit.get_session(load_settings(targets=[tmp]))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["HAND_DSN"] = session.dsn
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:  # a bytecode cache of this run's own (this checkout may be set not to write one)
            env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        commands = {
            "tddkit": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_tddkit.py",
                       f"--tddkit-dsn={session.server_dsn}"],
            "by_hand": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:tddkit",
                        "test_by_hand.py"],
        }
        samples: dict[str, list[tuple[float, float]]] = {variant: [] for variant in commands}
        for round_number in range(args.rounds + 1):
            for variant, command in commands.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                seconds = timed(command, root, env)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                if round_number:  # the first round fills the bytecode cache
                    samples[variant].append((seconds * 1000, cpu * 1000))
        tddkit.close_session()
    wall = {variant: statistics.median(w for w, _ in values) for variant, values in samples.items()}
    cpu = {variant: statistics.median(c for _, c in values) for variant, values in samples.items()}
    cache = "off (PYTHONDONTWRITEBYTECODE=1)" if args.no_bytecode_cache else "on"
    print(f"one-test pytest run, whole command, medians of {args.rounds} rounds alternating; bytecode cache {cache}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':<52} {'wall ms':>8} {'vs by hand':>11} {'CPU ms':>8} {'vs by hand':>11}")
    names = {"tddkit": "pytest + tddkit_conn (--tddkit-dsn, running server)",
             "by_hand": "pytest + SAVEPOINT fixture by hand (-p no:tddkit)"}
    for variant in commands:
        print(f"{names[variant]:<52} {wall[variant]:>8.0f} {wall[variant] / wall['by_hand']:>10.2f}x "
              f"{cpu[variant]:>8.0f} {cpu[variant] / cpu['by_hand']:>10.2f}x")

if __name__ == "__main__":
    main()
