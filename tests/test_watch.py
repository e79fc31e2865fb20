"""``python -m tddkit watch`` as users run it: a real watch process on a temporary project, edited while it runs.

Most tests point the watch process at this run's server (``--dsn``, which
starts in a fraction of a second); the Ctrl-C test lets it start its own
embedded server, to show that nothing is left behind.
"""

import contextlib
import io
import os
import sys
import unittest
from unittest import mock

import tddkit
from tddkit.cli.main import main
from tests.support import postgres_processes, wait_until
from tests.watch_support import FILES, HANGS, HAVE_WATCHFILES, WAIT, WatchProcess, databases_of


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
        watch.write("tests/test_a.py", FILES["tests/test_a.py"] + "\n")  # a later save: the next run must be its own
        next_run = watch.expect(r"^.*changed.*$").group(0)
        self.assertEqual(next_run, "tddkit: tests/test_a.py changed: running tests.test_a", watch.output())

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
        self.assertTrue(wait_until((watch.root / "started").exists, WAIT), watch.output())
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
        self.assertEqual(stderr.getvalue(), "tddkit: error: test path nowhere/tests does not exist; give a directory, "
                                            "a .py file or a dotted name (tests.test_orders)\n")
