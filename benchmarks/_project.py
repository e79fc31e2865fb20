"""What the whole-process benchmarks share: a throwaway project, the hand-written floor, running a command.

The floor is what a careful team writes by hand: one connection for the
whole process, one ``SAVEPOINT`` per test class and, after each test, the
statements tddkit itself sends (``ROLLBACK TO SAVEPOINT``, the release of
session advisory locks, the leak check's probe) in one round trip, on a
database holding only the project's schema. tddkit's suites do the same work
in ``tddkit.TDDTestCase`` classes of the same size. Child processes import
the tddkit of this checkout (``checkout_env``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: The checkout this benchmark belongs to: its tddkit is the one measured.
CHECKOUT = Path(__file__).resolve().parent.parent
if str(CHECKOUT) not in sys.path:
    sys.path.insert(0, str(CHECKOUT))

SCHEMA = "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);\n"

#: Tests per class and per module of the generated suites.
PER_CLASS = 100
PER_MODULE = 1000

BODY = """
    def test_{i}(self):
        self.conn.execute("INSERT INTO items (name) VALUES ('x')")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM items").fetchone(), (1,))
"""

#: The floor's shared connection and base class (a module of the project). Variants for the breakdown of
#: tddkit's cost: FLOOR_PREPARE=no (never prepare statements, as tddkit's connections), FLOOR_AFTER_TEST (the
#: per-test statements, sent in one round trip).
#: What tddkit sends after each test, in one round trip: the rollback, the release of the session advisory locks
#: the test took, and the leak check's probe (the server's last commit). The floors send the same.
TDDKIT_AFTER_TEST = ("ROLLBACK TO SAVEPOINT t; "
                     "SELECT pg_advisory_unlock_all(), (pg_last_committed_xact()).xid::text")

FLOOR_SUPPORT = '''"""The hand-written floor: one connection, a savepoint per class, one round trip after each test."""
import os
import unittest

import psycopg

_conn = None
#: What tddkit sends after each test, in one round trip (see TDDKIT_AFTER_TEST).
AFTER_TEST = os.environ.get("FLOOR_AFTER_TEST", {after_test!r}).encode()


def connection():
    global _conn
    if _conn is None:
        never = os.environ.get("FLOOR_PREPARE") == "no"
        _conn = psycopg.connect(os.environ["FLOOR_DSN"], **({"prepare_threshold": None} if never else {}))
    return _conn


class FloorCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.conn = connection()
        cls.conn.execute("SAVEPOINT t")

    @classmethod
    def tearDownClass(cls):
        cls.conn.rollback()

    def tearDown(self):
        if b";" in AFTER_TEST:  # several statements: sent as one simple query, past psycopg's statement cache
            self.conn.pgconn.exec_(AFTER_TEST)
        else:
            self.conn.execute(AFTER_TEST)
'''.replace("{after_test!r}", repr(TDDKIT_AFTER_TEST))

HEADERS = {
    "floor": "from floor_support import FloorCase as Base\n\n",
    "tddkit": "from tddkit import TDDTestCase as Base\n\n",
}


def make_project(root: Path) -> None:
    """A project whose config names a schema of one table, ``items``, and the floor's support module."""
    (root / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["schema.sql"]\n')
    (root / "schema.sql").write_text(SCHEMA)
    (root / "floor_support.py").write_text(FLOOR_SUPPORT)


def write_suite(root: Path, name: str, variant: str, tests: int) -> Path:
    """A package ``name`` of ``tests`` generated tests of ``variant`` ("floor" or "tddkit"), in classes of
    PER_CLASS and modules of PER_MODULE."""
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for first in range(0, tests, PER_MODULE):
        count = min(PER_MODULE, tests - first)
        classes = []
        for start in range(first, first + count, PER_CLASS):
            methods = "".join(BODY.format(i=i) for i in range(start, min(start + PER_CLASS, first + count)))
            classes.append(f"class Items{start // PER_CLASS}(Base):\n{methods}\n")
        (package / f"test_{first // PER_MODULE:03d}.py").write_text(HEADERS[variant] + "\n".join(classes))
    return package


def write_floor_and_tddkit_suites(root: Path, tests: int) -> None:
    """The project and the suites of the per-test benchmarks: ``floor_many`` and ``tddkit_many`` of ``tests`` + 1
    tests, ``floor_one`` and ``tddkit_one`` of one."""
    make_project(root)
    for size, count in (("many", tests + 1), ("one", 1)):
        write_suite(root, f"floor_{size}", "floor", count)
        write_suite(root, f"tddkit_{size}", "tddkit", count)


@contextlib.contextmanager
def suites_on_a_server(root: Path, tests: int) -> Iterator[tuple[str, str, str]]:
    """Write the per-test benchmarks' suites (``write_floor_and_tddkit_suites``) and start a tddkit session, the
    benchmark's server, with the floor's database: (server DSN, floor DSN, server version); the session is closed
    after."""
    import tddkit
    from tddkit.config.settings import load_settings

    write_floor_and_tddkit_suites(root, tests)
    session = tddkit.get_session(load_settings(targets=[str(root)]))
    try:
        with floor_database(session.server_dsn) as floor_dsn:
            yield session.server_dsn, floor_dsn, server_version(session.server_dsn)
    finally:
        tddkit.close_session()


def against_name(parser: Any, against: str) -> str:
    """The row name of ``--against CHECKOUT`` (a usage error if no tddkit is there)."""
    if not (Path(against) / "tddkit" / "__init__.py").is_file():
        parser.error(f"--against {against}: no tddkit package there (give the root of a tddkit checkout)")
    return f"python -m tddkit run (report printed), {against}"


def tddkit_runs(server_dsn: str, env: dict[str, str],
                against: str | None = None) -> dict[str, Callable[[str], tuple[list[str], dict[str, str]]]]:
    """The per-test benchmarks' tddkit commands, each a function of the suite's size ("many" or "one") giving the
    command and its environment: "tddkit" (the report printed), "no_report", and with ``against`` the tddkit of that
    checkout ("against")."""
    runs = {
        "tddkit": lambda size: (tddkit_command(f"tddkit_{size}", server_dsn), env),
        "no_report": lambda size: (tddkit_command(f"tddkit_{size}", server_dsn, "--no-report"), env),
    }
    if against:
        other = {**env, "PYTHONPATH": str(Path(against).resolve())}
        runs["against"] = lambda size: (tddkit_command(f"tddkit_{size}", server_dsn), other)
    return runs


def floor_command(package: str) -> list[str]:
    """The floor's suite run by plain unittest."""
    return [sys.executable, "-m", "unittest", "discover", "-s", package, "-t", "."]


def tddkit_command(package: str, server_dsn: str, *options: str) -> list[str]:
    """tddkit's suite run as users run it (report printed), on the benchmark's server."""
    return [sys.executable, "-m", "tddkit", "run", package, "--dsn", server_dsn, *options]


@contextlib.contextmanager
def floor_database(server_dsn: str) -> Iterator[str]:
    """A database holding only the schema (none of tddkit's triggers), dropped afterwards; its DSN."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"bench_floor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = make_conninfo(**{**conninfo_to_dict(server_dsn), "dbname": name})
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        yield dsn
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def vacuum_floor(floor_dsn: str) -> None:
    """Clear the floor's table of the rows earlier runs rolled back (a tddkit run starts on a fresh clone)."""
    import psycopg

    with psycopg.connect(floor_dsn, autocommit=True) as conn:
        conn.execute("VACUUM items")


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout's tddkit first on the path, plus ``extra``."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class ServerCpu:
    """CPU seconds the server has used: its postmaster and every process it started (backends that have exited
    count through the postmaster's children's times). Read before and after a command: what it cost the server."""

    def __init__(self, server_dsn: str) -> None:
        import psycopg

        with psycopg.connect(server_dsn, autocommit=True) as conn:
            data_directory = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
        self.pid = int(Path(data_directory, "postmaster.pid").read_text().split()[0])
        self.tick = os.sysconf("SC_CLK_TCK")

    def _times(self, pid: int, children: bool) -> int:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile: its time is its parent's now
            return 0
        return sum(int(value) for value in fields[11:15 if children else 13])  # utime stime [cutime cstime]

    def _children(self) -> list[int]:
        try:
            return [int(child) for child in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        except OSError:
            return []

    def __call__(self) -> float:
        ticks = self._times(self.pid, True) + sum(self._times(child, False) for child in self._children())
        return ticks / self.tick

    def pin(self, cpus: set[int]) -> None:
        """Run the server on ``cpus`` only: its postmaster (the backends it starts later inherit that) and the
        processes it runs now."""
        for pid in (self.pid, *self._children()):
            with contextlib.suppress(OSError):  # exited meanwhile
                os.sched_setaffinity(pid, cpus)


def pin_to_cpus(count: int) -> set[int]:
    """Run this process, and every process it starts from now on, on its first ``count`` CPUs; those CPUs."""
    cpus = set(sorted(os.sched_getaffinity(0))[:count])
    os.sched_setaffinity(0, cpus)
    return cpus


@dataclasses.dataclass
class Measure:
    """What one command cost: wall seconds, CPU seconds (its own and its children's; the server's when asked)
    and the peak RSS in bytes of its largest process (itself or a child it waited for: a parallel worker)."""

    wall: float
    cpu: float
    server_cpu: float
    peak_rss: int


def measured(args: list[str], root: Path, env: dict[str, str], server: ServerCpu | None = None) -> Measure:
    """Run a command and measure it; the benchmark stops with its output if the command failed."""
    out = root / ".bench-output"
    with open(out, "w") as sink:
        server_before = server() if server else 0.0
        started = time.perf_counter()
        process = subprocess.Popen(args, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        server_cpu = server() - server_before if server else 0.0
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({process.returncode}):\n{out.read_text()[-4000:]}")
    return Measure(elapsed, usage.ru_utime + usage.ru_stime, server_cpu, usage.ru_maxrss * 1024)


def timed(args: list[str], root: Path, env: dict[str, str]) -> float:
    """Seconds the command took; the benchmark stops with its output if it failed."""
    return measured(args, root, env).wall


def per_test_ms(commands: dict[str, Any], root: Path, env: dict[str, str], rounds: int,
                tests: int) -> dict[str, float]:
    """Median ms per test of each command, ``(T(tests + 1) - T(1)) / tests``: ``commands[name](size)`` is the
    command for ``size`` ``"many"`` or ``"one"``; every command once per round, in turn."""
    import statistics

    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            many, one = timed(command("many"), root, env), timed(command("one"), root, env)
            samples[name].append((many - one) * 1000 / tests)
    return {name: statistics.median(values) for name, values in samples.items()}


#: Where the measured tables go: the docs' pages include them (pymdownx.snippets), so no number is copied by hand.
FRAGMENTS = Path(__file__).resolve().parent.parent / "docs" / "measured"


def machine(server_version: str = "") -> str:
    """Where a number was measured: CPUs, Python and, when known, PostgreSQL."""
    import os
    import platform

    postgres = f", PostgreSQL {server_version}" if server_version else ""
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}{postgres}"


def server_version(dsn: str) -> str:
    """The version of the server at ``dsn`` (``15.18``)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]


def write_fragment(name: str, header: list[str], rows: list[list[str]], how: str, server: str = "",
                   command: str = "") -> Path:
    """Write a benchmark's table as ``docs/measured/<name>.md`` with a line saying how (``command``: by default
    ``python benchmarks/<name>.py``) and where it was measured; the path written."""
    import datetime

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    when = datetime.date.today().isoformat()
    lines += ["", f"*`{command or f'python benchmarks/{name}.py'}`, {when}, {machine(server)}: {how}.*", ""]
    FRAGMENTS.mkdir(parents=True, exist_ok=True)
    path = FRAGMENTS / f"{name}.md"
    path.write_text("\n".join(lines))
    print(f"table written to {path}")
    return path
