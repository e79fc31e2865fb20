"""``python -m tddkit watch`` as users run it: a real watch process on a temporary project, edited while it runs.

Most tests point the watch process at this run's server (``--dsn``, which
starts in a fraction of a second); the Ctrl-C test lets it start its own
embedded server, to show that nothing is left behind.
"""

import contextlib
import importlib.util
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path
from typing import List, Optional
from unittest import mock

import psycopg

import tddkit
from tddkit.cli import main
from tests.support import child_env, postgres_processes, shared_tempdir

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
    """A temporary project and ``python -m tddkit watch tests`` running on it; its output read line by line."""

    def __init__(self, test: unittest.TestCase, *args: str, dsn: Optional[str] = None) -> None:
        tmp = shared_tempdir()
        test.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name)
        for name, text in FILES.items():
            self.write(name, text)
        self.run_dir = shared_tempdir()
        test.addCleanup(self.run_dir.cleanup)
        command = [sys.executable, "-m", "tddkit", "watch", "tests", *args] + (["--dsn", dsn] if dsn else [])
        env = child_env(TDDKIT_RUN_DIR=self.run_dir.name, WATCH_STARTED=str(self.root / "started"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as most users run: .pyc files written and read
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        test.addCleanup(self.stop)
        self.lines: List[str] = []
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


def databases_of(pid: int) -> List[str]:
    """Test databases on this run's server named after process ``pid``."""
    with psycopg.connect(tddkit.get_session().server_dsn, autocommit=True) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"tddkit\\_{pid}\\_%",))
        return [row[0] for row in rows]


@unittest.skipUnless(HAVE_WATCHFILES, "watchfiles is not installed (pip install 'tddkit[watch]')")
class WatchTests(unittest.TestCase):
    def watch(self, *args: str) -> WatchProcess:
        return WatchProcess(self, *args, dsn=tddkit.get_session().server_dsn)

    def test_a_failing_edit_then_the_fix(self):
        watch = self.watch()
        self.assertEqual(watch.first, "tddkit: 3 passed, 0 failed")
        watch.write("tests/test_a.py", FILES["tests/test_a.py"].replace("value(), 1", "value(), 2"))
        self.assertRegex(watch.closing_line(), r"^tddkit: 0 passed, 1 failed")
        self.assertIn("AssertionError: 1 != 2", watch.output())
        failing = (watch.root / "tests/test_a.py").stat().st_mtime
        watch.write("tests/test_a.py", FILES["tests/test_a.py"])  # same size: with the same mtime, a stale .pyc
        os.utime(watch.root / "tests/test_a.py", (failing, failing))  # would still run the failing test
        self.assertEqual(watch.closing_line(), "tddkit: 1 passed, 0 failed")
        self.assertRegex(watch.lines[-1], r"\([\d.]+ s after the save\)$")

    def test_a_module_imported_by_one_test_module_reruns_only_that_one(self):
        watch = self.watch()
        watch.write("helper.py", "def value():\n    return 3\n")
        self.assertEqual(watch.expect(r"^tddkit: helper.py changed: running (.*)$").group(1), "tests.test_a")
        self.assertEqual(watch.closing_line(), "tddkit: 0 passed, 1 failed")
        watch.write("tests/test_b.py", FILES["tests/test_b.py"] + "\n")
        self.assertEqual(watch.expect(r"changed: running (.*)$").group(1), "tests.test_b")
        self.assertEqual(watch.closing_line(), "tddkit: 2 passed, 0 failed")

    def test_k_selects_tests_and_all_reruns_every_target(self):
        watch = self.watch("-k", "empty", "--all")
        self.assertEqual(watch.first, "tddkit: 1 passed, 0 failed")
        watch.write("helper.py", "def value():\n    return 1  # saved\n")
        self.assertEqual(watch.expect(r"^tddkit: helper.py changed: running (.*)$").group(1), "everything")
        self.assertEqual(watch.closing_line(), "tddkit: 1 passed, 0 failed")

    def test_a_broken_import_is_shown_and_watching_goes_on(self):
        watch = self.watch()
        watch.write("helper.py", "def value(:\n")
        self.assertEqual(watch.closing_line(), "tddkit: 0 passed, 1 failed")
        self.assertIn("SyntaxError", watch.output())
        self.assertIn('helper.py", line 1', watch.output())
        watch.write("helper.py", FILES["helper.py"])
        self.assertEqual(watch.closing_line(), "tddkit: 1 passed, 0 failed")
        self.assertEqual(watch.stop(), 0, watch.output())
        self.assertEqual(databases_of(watch.process.pid), [])

    def test_two_saves_within_milliseconds_run_once_and_ignored_files_not_at_all(self):
        watch = self.watch()
        for name in ("scratch/test_x.py", "venv/lib/x.py", "tests/__pycache__/x.py"):
            watch.write(name, "raise SystemExit\n")
        watch.write("tests/test_b.py", FILES["tests/test_b.py"] + "\n")
        watch.write("tests/test_b.py", FILES["tests/test_b.py"] + "\n\n")
        self.assertEqual(watch.expect(r"^tddkit: (.*) changed: running").group(1), "tests/test_b.py")
        watch.closing_line()
        time.sleep(1.0)
        self.assertNotRegex("\n".join(watch.lines[watch._seen:]), "changed", watch.output())

    def test_a_schema_change_rebuilds_the_template_and_reruns_everything(self):
        watch = self.watch()
        watch.write("tests/test_b.py", FILES["tests/test_b.py"].replace("FROM items", "FROM extra"))
        self.assertEqual(watch.closing_line(), "tddkit: 1 passed, 1 failed")
        watch.write("schema.sql", FILES["schema.sql"] + "CREATE TABLE extra (id int);\n")
        watch.expect(r"^tddkit: schema changed: schema template \S+ built")
        self.assertEqual(watch.closing_line(), "tddkit: 3 passed, 0 failed")

    def test_ctrl_c_during_a_run_ends_the_run_and_watching_goes_on(self):
        watch = self.watch()
        watch.write("tests/test_a.py", HANGS)
        deadline = time.monotonic() + WAIT
        while not (watch.root / "started").exists():
            self.assertLess(time.monotonic(), deadline, watch.output())
            time.sleep(0.02)
        watch.interrupt()
        watch.expect(r"^tddkit: run interrupted; still watching")
        watch.write("tests/test_a.py", FILES["tests/test_a.py"])
        self.assertEqual(watch.closing_line(), "tddkit: 1 passed, 0 failed")
        self.assertEqual(watch.stop(), 0, watch.output())
        self.assertEqual(databases_of(watch.process.pid), [])


@unittest.skipUnless(HAVE_WATCHFILES, "watchfiles is not installed (pip install 'tddkit[watch]')")
class WatchCleanupTests(unittest.TestCase):
    def test_ctrl_c_stops_the_embedded_server_and_leaves_nothing(self):
        watch = WatchProcess(self)
        self.assertEqual(watch.first, "tddkit: 3 passed, 0 failed")
        self.assertTrue(postgres_processes(watch.run_dir.name), "the server should run while watching")
        self.assertEqual(watch.stop(), 0, watch.output())
        watch.expect(r"^tddkit: watch stopped")
        self.assertEqual(postgres_processes(watch.run_dir.name), [])
        self.assertEqual(os.listdir(watch.run_dir.name), [])


class WatchUsageTests(unittest.TestCase):
    def test_without_watchfiles_one_line_names_the_extra(self):
        stderr = io.StringIO()
        with mock.patch.dict(sys.modules, {"watchfiles": None}), contextlib.redirect_stderr(stderr):
            code = main(["watch", "tests"])
        self.assertEqual(code, 2)
        self.assertEqual(stderr.getvalue(), "tddkit: error: python -m tddkit watch needs the watchfiles library: "
                                            "pip install 'tddkit[watch]'\n")

    @unittest.skipUnless(HAVE_WATCHFILES, "watchfiles is not installed (pip install 'tddkit[watch]')")
    def test_a_missing_target_is_a_usage_error(self):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = main(["watch", "nowhere/tests"])
        self.assertEqual(code, 2)
        self.assertIn("watch target 'nowhere/tests' not found", stderr.getvalue())
