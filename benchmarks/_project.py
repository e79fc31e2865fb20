"""What the whole-process benchmarks share: a throwaway project with one table, and timing a command."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

SCHEMA = "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);\n"


def make_project(root: Path) -> None:
    """A project whose config names a schema of one table, ``items``."""
    (root / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["schema.sql"]\n')
    (root / "schema.sql").write_text(SCHEMA)


def timed(args: list[str], root: Path, env: dict[str, str]) -> float:
    """Seconds the command took; the benchmark stops with its output if it failed."""
    started = time.perf_counter()
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


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


def write_fragment(name: str, header: list[str], rows: list[list[str]], how: str, server: str = "") -> Path:
    """Write a benchmark's table as ``docs/measured/<name>.md`` with a line saying how and where it was measured;
    the path written."""
    import datetime

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    when = datetime.date.today().isoformat()
    lines += ["", f"*`python benchmarks/{name}.py`, {when}, {machine(server)}: {how}.*", ""]
    FRAGMENTS.mkdir(parents=True, exist_ok=True)
    path = FRAGMENTS / f"{name}.md"
    path.write_text("\n".join(lines))
    print(f"table written to {path}")
    return path
