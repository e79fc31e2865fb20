"""Helpers for tddkit's own tests: run inner suites, run the CLI in a child process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Type

import psycopg

import tddkit
from tddkit.runner import TDDTestResult, TDDTestRunner

ROOT = Path(__file__).resolve().parent.parent


def suite_of(case: Type[unittest.TestCase], *names: str) -> unittest.TestSuite:
    """A suite of ``case``'s tests in the given order (all of them, sorted, when none given)."""
    names = names or tuple(unittest.TestLoader().getTestCaseNames(case))
    return unittest.TestSuite(case(name) for name in names)


def run_suite(suite: unittest.TestSuite, **runner_kwargs) -> TDDTestResult:
    """Run an inner suite with tddkit's runner on the current session; output is kept in .output."""
    stream = io.StringIO()
    runner_kwargs.setdefault("show_report", False)
    result = TDDTestRunner(stream=stream, verbosity=2, **runner_kwargs).run(suite)
    result.output = stream.getvalue()  # type: ignore[attr-defined]
    return result


def admin_connection() -> psycopg.Connection:
    """An autocommit connection to the session's test database, outside any test transaction."""
    database = tddkit.get_session().database
    return psycopg.connect(database.dsn, autocommit=True)


def child_env(**extra: str) -> Dict[str, str]:
    """The environment for a child tddkit process: this checkout importable, no inherited DSN."""
    env = {k: v for k, v in os.environ.items() if k not in ("TDDKIT_DATABASE_URL", "DATABASE_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run_cli(args: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m tddkit ARGS`` in a child process and capture its output."""
    return subprocess.run([sys.executable, "-m", "tddkit", *args], cwd=str(cwd or ROOT), env=env or child_env(),
                          capture_output=True, text=True, timeout=timeout)


def shared_tempdir() -> tempfile.TemporaryDirectory:
    """A temporary directory the server's unprivileged account can traverse."""
    tmp = tempfile.TemporaryDirectory(prefix="tddkit-test-")
    os.chmod(tmp.name, 0o755)
    return tmp


def postgres_processes(fragment: str) -> List[str]:
    """Command lines of running processes that mention ``fragment`` (e.g. a run directory)."""
    return list(postgres_pids(fragment).values())


def postgres_pids(fragment: str) -> Dict[int, str]:
    """Running processes that mention ``fragment`` (e.g. a run directory): pid -> command line."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmdline and "postgres" in cmdline:
            found[int(pid)] = cmdline
    return found


def pool_stats():
    return tddkit.get_session().database.pool.get_stats()


def database_state():
    """What is left in the test database outside any test: users, advisory locks, tddkit's own temp tables."""
    with admin_connection() as conn:
        return {
            "users": conn.execute("SELECT count(*) FROM users").fetchone()[0],
            "advisory_locks": conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND d.datname = current_database()").fetchone()[0],
            "left_by_extra": conn.execute(
                "SELECT count(*) FROM pg_class WHERE relname = 'left_by_extra'").fetchone()[0],
            "checked_out": pool_stats()["pool_size"] - pool_stats()["pool_available"],
        }


CLEAN = {"users": 0, "advisory_locks": 0, "left_by_extra": 0, "checked_out": 0}


def problems_by_name(result) -> Dict[str, List[str]]:
    """{test method name: [formatted errors and failures]} of a run_suite result ({} when all passed)."""
    found: Dict[str, List[str]] = {}
    for test, text in result.errors + result.failures:
        found.setdefault(test.id().rsplit(".", 1)[1], []).append(text)
    return found


def users_in_database() -> list:
    """The e-mail addresses in the session's test database, outside any test."""
    with admin_connection() as conn:
        return conn.execute("SELECT email FROM users ORDER BY email").fetchall()
