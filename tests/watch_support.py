"""A real ``python -m tddkit watch`` process on a temporary project, for the watch tests."""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

import psycopg

import tddkit
from tests.support import child_env, shared_tempdir

WAIT = 60.0
HAVE_WATCHFILES = importlib.util.find_spec("watchfiles") is not None

FILES = {
    "pyproject.toml": '[tool.tddkit]\nschema = ["schema.sql"]\nwatch_ignore = ["scratch"]\n',
    "schema.sql": "CREATE TABLE items (id serial PRIMARY KEY, name text);\n",
    "helper.py": "def value():\n    return 1\n",
    "tests/__init__.py": "",
    "tests/test_a.py": """import tddkit
from helper import value


class A(tddkit.TDDTestCase):
    def test_value(self):
        self.conn.execute("INSERT INTO items (name) VALUES ('a')")
        self.assertEqual(value(), 1)
""",
    "tests/test_b.py": """import tddkit


class B(tddkit.TDDTestCase):
    def test_empty(self):
        self.assertEqual(self.conn.execute("SELECT count(*) FROM items").fetchone()[0], 0)

    def test_true(self):
        self.assertTrue(True)
""",
}

HANGS = """import os
import time
import tddkit


class A(tddkit.TDDTestCase):
    def test_value(self):
        open(os.environ["WATCH_STARTED"], "w").close()
        time.sleep(120)
"""


class WatchProcess:
    """A temporary project (``FILES``, or ``files``) and ``python -m tddkit watch tests`` running on it; its output
    read line by line."""

    def __init__(self, test: unittest.TestCase, *args: str, dsn: str | None = None,
                 files: dict[str, str] | None = None) -> None:
        tmp = shared_tempdir()
        test.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name)
        for name, text in (files or FILES).items():
            self.write(name, text)
        self.run_dir = shared_tempdir()
        test.addCleanup(self.run_dir.cleanup)
        command = [sys.executable, "-m", "tddkit", "watch", "tests", *args] + (["--dsn", dsn] if dsn else [])
        env = child_env(TDDKIT_RUN_DIR=self.run_dir.name, WATCH_STARTED=str(self.root / "started"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as most users run: .pyc files written and read
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        test.addCleanup(self.stop)
        self.lines: list[str] = []
        self._seen = 0
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.first = self.closing_line()
        self.expect(r"^tddkit: watching ")  # the watcher is set up: edits from now on are seen

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def expect(self, pattern: str, timeout: float = WAIT) -> re.Match:
        """The next line (after the last one expected) matching ``pattern``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(self._seen, len(self.lines)):
                    match = re.search(pattern, self.lines[index])
                    if match:
                        self._seen = index + 1
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._changed.wait(0.2)):
                    raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.2))

    def closing_line(self) -> str:
        return self.expect(r"^tddkit: \d+ passed, \d+ failed").group(0)

    def interrupt(self) -> None:
        """Ctrl-C as a terminal sends it: to the watch process and its forked child."""
        os.killpg(self.process.pid, signal.SIGINT)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.interrupt()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop_with(self, sig: int) -> float:
        """Send ``sig`` to watch's process group, as a terminal (Ctrl-C) or a service manager does; the seconds
        until the watch process ended."""
        started = time.monotonic()
        os.killpg(self.process.pid, sig)
        self.process.wait(WAIT)
        return time.monotonic() - started

    def group_left(self) -> bool:
        """Whether a process of watch's group (its forked child) is still there."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


def databases_of(pid: int) -> list[str]:
    """Test databases on this run's server named after process ``pid``."""
    with psycopg.connect(tddkit.get_session().server_dsn, autocommit=True) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"tddkit\\_{pid}\\_%",))
        return [row[0] for row in rows]
