"""What the whole-process benchmarks share: a throwaway project with one table, and timing a command."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

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
