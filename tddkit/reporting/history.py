"""Performance history: a compact summary of each run, kept in a directory (``--history DIR``, ``history_dir``).

Each run writes one small JSON file (``<UTC time>-<pid>-<random>.json``, written
to a temporary name and renamed): two CI jobs writing to one directory at the
same moment each add their own file, and a reader never sees half of one. The
files sort by the time in their names; ``load`` reads the last N and skips any
file that is not a history entry. An entry holds the time, the git commit and
branch (when the project is a git checkout), the counts, the median, p95 and
mean of each metric of the report, and the statement counts.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..output import environment, json_safe, tddkit_version, write_json
from .report import Report

FORMAT = "tddkit-history"
FORMAT_VERSION = 1


def check_history_dir(path: Path, option: str) -> None:
    """Make the directory ``path`` and try writing a file there; a one-line ConfigError when it cannot be."""
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{option} {path}: that is a file; give a directory (one file per run goes there)")
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".tddkit-probe-{os.getpid()}-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be written ({exc.strerror or exc}); give a directory you can "
                          "write to") from None


def git_state(directory: Path) -> dict[str, str | None]:
    """The commit and branch checked out at ``directory`` (None each when it is no git checkout, or git is
    missing); a detached HEAD has no branch."""
    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        answer = done.stdout.strip()
        return answer if done.returncode == 0 and answer else None

    commit = ask("rev-parse", "HEAD")
    branch = ask("symbolic-ref", "--short", "-q", "HEAD") if commit else None
    return {"commit": commit, "branch": branch}


def summarize(report: Report, directory: Path) -> dict[str, Any]:
    """The history entry of a run: when, which commit, the counts, and each metric's median, p95 and mean."""
    now = datetime.now(UTC)
    s = report.summary
    queries = next((row.stats for row in report.rows if row.name == "sql_queries"), None)
    entry: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "id": f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{os.getpid()}-{secrets.token_hex(3)}",
        "created": now.isoformat(timespec="seconds"),
        **git_state(directory),
        "tddkit_version": tddkit_version(),
        "python": environment()["python"],
        "tests": s.tests, "passed": s.passed, "failed": s.failed, "errors": s.errors, "skipped": s.skipped,
        "wall_seconds": s.wall_seconds,
        "metrics": {row.name: {"median": row.stats.median, "p95": row.stats.p95, "mean": row.stats.mean,
                               "unit": row.unit} for row in report.rows},
        "queries": {"total": round(queries.mean * queries.count), "median": queries.median, "p95": queries.p95,
                    "max": queries.max} if queries else {"total": 0, "median": None, "p95": None, "max": None},
    }
    return dict(json_safe(entry))


def append(directory: Path, entry: Mapping[str, Any]) -> Path:
    """Write ``entry`` as a file of its own in ``directory``; its path."""
    path = directory / f"{entry['id']}.json"
    write_json(path, entry, indent=None, sort_keys=True)
    return path


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and data.get("format") == FORMAT and data.get("version") == FORMAT_VERSION
    return data if ok and isinstance(data.get("metrics"), dict) else None


def load(directory: Path, last: int) -> list[dict[str, Any]]:
    """The last ``last`` entries in ``directory``, oldest first (none when it does not exist)."""
    try:
        names = sorted(name for name in os.listdir(directory) if name.endswith(".json") and not name.startswith("."))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"history directory {directory} cannot be read ({exc.strerror})") from None
    entries: list[dict[str, Any]] = []
    for name in reversed(names):
        if len(entries) >= last:
            break
        entry = _read(directory / name)
        if entry is not None:
            entries.append(entry)
    return entries[::-1]


def median_of(entries: Sequence[Mapping[str, Any]], metric: str, statistic: str = "median") -> float | None:
    """The median over ``entries`` of one metric's statistic (e.g. the individual tests' median); None without
    any entry that measured it."""
    values = [entry["metrics"][metric][statistic] for entry in entries
              if isinstance(entry["metrics"].get(metric), dict) and
              isinstance(entry["metrics"][metric].get(statistic), int | float)]
    return statistics.median(values) if values else None
