"""Helpers for tddkit's own tests: run inner suites, run the CLI in a child process."""

from __future__ import annotations

import atexit
import functools
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg

import tddkit
from tddkit.config.settings import Settings
from tddkit.server.locations import default_run_base
from tddkit.session.schema import SchemaSource
from tddkit.session.template import BUILD_PREFIX, TEMPLATE_PREFIX
from tddkit.testcase.runner import TDDTestResult, TDDTestRunner

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], object], seconds: float = 15.0, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it is true or ``seconds`` have passed; whether it is true in the end."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(interval)
    return bool(condition())


def suite_of(case: type[unittest.TestCase], *names: str) -> unittest.TestSuite:
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
    database = tddkit.get_session()._database
    return psycopg.connect(database.dsn, autocommit=True)


#: Inherited variables a child run keeps: where caches go changes no behaviour, and a user's cache is theirs.
KEPT_TDDKIT_VARIABLES = ("TDDKIT_CACHE_DIR",)


def inherited_setting(name: str) -> bool:
    """Whether variable ``name`` configures tddkit or libpq (``TDDKIT_*``, ``DATABASE_URL``, ``PG*``)."""
    return (name.startswith(("TDDKIT_", "PG")) and name not in KEPT_TDDKIT_VARIABLES) or name == "DATABASE_URL"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child tddkit process: this checkout importable, exactly the settings ``extra`` gives.

    Every inherited ``TDDKIT_*`` (but the cache directory), ``DATABASE_URL`` and ``PG*`` variable is dropped,
    so a child run never picks up the parent's server choice (a tox environment's ``TDDKIT_PG_BINDIR``, say),
    DSN or libpq settings from the user's shell.
    """
    env = {k: v for k, v in os.environ.items() if not inherited_setting(k)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run_cli(args: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m tddkit ARGS`` in a child process and capture its output."""
    return subprocess.run([sys.executable, "-m", "tddkit", *args], cwd=str(cwd or ROOT), env=env or child_env(),
                          capture_output=True, text=True, timeout=timeout)


#: What a wheel is built from: the packaging files and the package (copied, so the checkout gets no build/).
PACKAGING_FILES = ("pyproject.toml", "setup.cfg", "README.md", "LICENSE")


@functools.cache
def built_wheel() -> Path:
    """tddkit's wheel built from this checkout with pip (once per process; removed at exit).

    Without build isolation when setuptools 77 or newer is installed (offline), else pip fetches it."""
    tmp = Path(tempfile.mkdtemp(prefix="tddkit-wheel-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    source = tmp / "source"
    shutil.copytree(ROOT / "tddkit", source / "tddkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in PACKAGING_FILES:
        shutil.copy2(ROOT / name, source / name)
    try:
        from setuptools import __version__ as setuptools_version
        isolation = [] if int(setuptools_version.split(".")[0]) < 77 else ["--no-build-isolation"]
    except ImportError:
        isolation = []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *isolation, "--wheel-dir",
                           str(tmp), str(source)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"pip wheel failed:\n{done.stdout}{done.stderr}")
    [wheel] = tmp.glob("tddkit-*.whl")
    return wheel


def start_cli_until(marker: Path, args: Sequence[str], env: dict[str, str], cwd: Path | None = None,
                    timeout: float = 60) -> subprocess.Popen:
    """Start ``python -m tddkit ARGS`` and return it once ``marker`` exists (a test under way, say); if it never
    does, the child is killed and the assertion names what it printed."""
    child = subprocess.Popen([sys.executable, "-m", "tddkit", *args], cwd=str(cwd or ROOT), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not marker.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    if not marker.exists():
        if child.poll() is None:
            child.kill()
        raise AssertionError(f"{marker} never appeared: {child.communicate(timeout=30)}")
    return child


def password_server(test: unittest.TestCase) -> tddkit.server.embedded.EmbeddedPostgres:
    """An embedded server (stopped after ``test``) that asks TCP clients for a password: role 'app', password
    'right-password', allowed to create databases; ``app_url(server)`` connects as it."""
    from tddkit.server.binaries import find_binaries
    from tddkit.server.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(find_binaries(), tcp=True).start()
    test.addCleanup(server.stop)
    (server.data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("CREATE ROLE app LOGIN CREATEDB PASSWORD 'right-password'")
    psycopg.connect(app_url(server)).close()
    return server


def app_url(server: tddkit.server.embedded.EmbeddedPostgres, password: str = "right-password") -> str:
    """The URL of ``password_server``'s role 'app' (with ``password``)."""
    return f"postgresql://app:{password}@127.0.0.1:{server.port}/postgres"


def control_field(binaries: tddkit.server.binaries.PgBinaries, data_dir: Path,
                  field: str = "Database cluster state") -> str:
    """One field of pg_controldata's report on a stopped cluster."""
    done = subprocess.run([binaries.path("pg_controldata"), str(data_dir)], capture_output=True, text=True,
                          check=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    return next(line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith(field + ":"))


def shared_tempdir() -> tempfile.TemporaryDirectory:
    """A temporary directory the server's unprivileged account can traverse; in memory where run directories
    go (/dev/shm with room to spare): the caches and clusters tests make there copy 20 times faster than on
    this machine's disk."""
    tmp = tempfile.TemporaryDirectory(prefix="tddkit-test-", dir=default_run_base())
    os.chmod(tmp.name, 0o755)
    return tmp


def postgres_processes(fragment: str) -> list[str]:
    """Command lines of running processes that mention ``fragment`` (e.g. a run directory)."""
    return list(postgres_pids(fragment).values())


def postgres_pids(fragment: str) -> dict[int, str]:
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
    return tddkit.get_session()._database.pool.get_stats()


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
            "checked_out": checked_out(),
        }


def checked_out(timeout: float = 5.0) -> int:
    """Connections lent out of the session's pool. One the pool discarded (broken) counts in ``pool_size``
    until its replacement, made in the background, is in: wait up to ``timeout`` seconds for that instead of
    reporting a connection nobody holds (a leaked one stays lent and is reported)."""
    deadline = time.monotonic() + timeout
    while True:
        stats = pool_stats()
        lent = stats["pool_size"] - stats["pool_available"]
        if lent == 0 or time.monotonic() > deadline:
            return lent
        time.sleep(0.01)


CLEAN = {"users": 0, "advisory_locks": 0, "left_by_extra": 0, "checked_out": 0}


def problems_by_name(result) -> dict[str, list[str]]:
    """{test method name: [formatted errors and failures]} of a run_suite result ({} when all passed)."""
    found: dict[str, list[str]] = {}
    for test, text in result.errors + result.failures:
        found.setdefault(test.id().rsplit(".", 1)[1], []).append(text)
    return found


def project_templates(server_dsn: str, root: Path) -> list[str]:
    """The schema templates (built or half-built) of the project whose config file is in ``root``, on a server."""
    project = SchemaSource.from_settings(Settings(root=str(root))).project
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        return sorted(r[0] for r in admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s OR datname LIKE %s",
            (f"{TEMPLATE_PREFIX}{project}%", f"{BUILD_PREFIX}{project}%")))


def drop_project_templates(server_dsn: str, root: Path) -> None:
    """Drop what ``project_templates`` lists (the runs that used them have ended)."""
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        for name in project_templates(server_dsn, root):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def users_in_database() -> list:
    """The e-mail addresses in the session's test database, outside any test."""
    with admin_connection() as conn:
        return conn.execute("SELECT email FROM users ORDER BY email").fetchall()
