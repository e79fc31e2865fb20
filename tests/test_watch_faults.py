"""``python -m tddkit watch`` when things go wrong: a killed server, signals, a broken schema or test module, bad
targets, a file moved into the tree."""

import os
import re
import signal
import time
import unittest

import tddkit
from tests.support import postgres_pids, postgres_processes, run_cli, shared_tempdir, wait_until
from tests.watch_support import FILES, HANGS, HAVE_WATCHFILES, WAIT, WatchProcess, databases_of

NEEDS_WATCHFILES = unittest.skipUnless(HAVE_WATCHFILES, "watchfiles is not installed (pip install 'tddkit[watch]')")


def failure_block(lines: list[str], module: str) -> list[str]:
    """The last report of ``module`` failing to import: from unittest's ImportError line to the separator after."""
    starts = [i for i, line in enumerate(lines) if line == f"ImportError: Failed to import test module: {module}"]
    if not starts:
        raise AssertionError(f"no import failure of {module}:\n" + "\n".join(lines))
    block = []
    for line in lines[starts[-1]:]:
        if line.startswith(("=====", "-----")):
            break
        block.append(line)
    while not block[-1].strip():
        block.pop()
    return block


def frames_of(block: list[str]) -> list[str]:
    """The files of the traceback frames in a failure block."""
    return [match.group(1) for match in (re.match(r'\s+File "([^"]+)"', line) for line in block) if match]


@NEEDS_WATCHFILES
class WatchServerLossTests(unittest.TestCase):
    def test_a_killed_server_is_replaced_in_one_line_the_run_passes_and_ctrl_c_ends_at_once(self):
        watch = WatchProcess(self)  # its own embedded server

        def servers() -> dict[int, str]:
            return {pid: command for pid, command in postgres_pids(watch.run_dir.name).items() if " -D " in command}

        # One postmaster; a process starting one (before its exec) or a single-user run ends on its own.
        self.assertTrue(wait_until(lambda: len(servers()) == 1, seconds=5), servers())
        [postmaster] = servers()
        before = len(watch.lines)
        os.kill(postmaster, signal.SIGKILL)
        watch.write("tests/test_a.py", FILES["tests/test_a.py"] + "\n")
        watch.expect(rf"^tddkit: server lost \(embedded PostgreSQL, pid {postmaster}, was killed by SIGKILL\); "
                     r"now on embedded PostgreSQL .*; ready in \d+ ms$")
        self.assertRegex(watch.closing_line(), r"^tddkit: [13] passed, 0 failed$")
        seconds = watch.stop_with(signal.SIGINT)
        watch.expect(r"^tddkit: watch stopped$")
        self.assertEqual(watch.process.returncode, 0, watch.output())
        self.assertLess(seconds, 1.0, "Ctrl-C should end watch at once")
        said = [line for line in watch.lines[before:] if re.search("server|rror|Traceback", line)]
        self.assertEqual(len(said), 1, watch.output())
        self.assertFalse(watch.group_left(), "the forked child should be gone")
        self.assertEqual(postgres_processes(watch.run_dir.name), [])
        self.assertEqual(os.listdir(watch.run_dir.name), [])


@NEEDS_WATCHFILES
class WatchSignalTests(unittest.TestCase):
    def test_sigterm_while_waiting_ends_watch_with_143_no_traceback_and_nothing_left(self):
        watch = WatchProcess(self)  # its own embedded server: stopped too
        seconds = watch.stop_with(signal.SIGTERM)
        self.assertEqual(watch.process.returncode, 143, watch.output())
        watch.expect(r"^tddkit: interrupted$")
        self.assertNotIn("Traceback", watch.output())
        self.assertLess(seconds, 5.0)
        self.assertFalse(watch.group_left(), "the forked child should be gone")
        self.assertEqual(postgres_processes(watch.run_dir.name), [])

    def test_sigterm_during_a_run_ends_the_run_and_watch(self):
        watch = WatchProcess(self, dsn=tddkit.get_session().server_dsn)
        watch.write("tests/test_a.py", HANGS)
        self.assertTrue(wait_until((watch.root / "started").exists, WAIT), watch.output())
        seconds = watch.stop_with(signal.SIGTERM)
        self.assertEqual(watch.process.returncode, 143, watch.output())
        self.assertNotIn("Traceback", watch.output())
        self.assertLess(seconds, 5.0)
        self.assertFalse(watch.group_left(), "the forked child should be gone")
        self.assertEqual(databases_of(watch.process.pid), [])


@NEEDS_WATCHFILES
class WatchEditTests(unittest.TestCase):
    def watch(self) -> WatchProcess:
        return WatchProcess(self, dsn=tddkit.get_session().server_dsn)

    def test_saving_the_last_good_schema_after_a_broken_one_runs_again(self):
        watch = self.watch()
        watch.write("schema.sql", "CREATE TABLE items (id serial PRIMARY KEY, name text;\n")
        watch.expect(r"^tddkit: error: schema error in \S+schema.sql:1: .*\(still watching: save a fix\)$")
        watch.write("schema.sql", FILES["schema.sql"])
        self.assertEqual(watch.closing_line(), "tddkit: 3 passed, 0 failed")

    def test_a_module_that_fails_to_import_shows_the_projects_frames_only_as_run_does(self):
        watch = self.watch()
        watch.write("tests/test_b.py", "import helper\n\nhelper.missing()\n")  # known: re-run by its dotted name
        self.assertEqual(watch.expect(r"changed: running (.*)$").group(1), "tests.test_b")
        watch.closing_line()
        watch.write("tests/test_c.py", "raise RuntimeError('boom')\n")  # new: every target, discovered again
        self.assertEqual(watch.expect(r"changed: running (.*)$").group(1), "everything")
        self.assertEqual(watch.closing_line(), "tddkit: 1 passed, 2 failed")
        ran = run_cli(["run", "tests", "--no-report", "--dsn", tddkit.get_session().server_dsn], cwd=watch.root)
        for module, error in (("tests.test_b", "AttributeError"), ("tests.test_c", "RuntimeError: boom")):
            with self.subTest(module):
                block = failure_block(watch.lines, module)
                self.assertEqual(frames_of(block), [str(watch.root / f"{module.replace('.', '/')}.py")],
                                 "\n".join(block))
                self.assertTrue(block[-1].startswith(error), block)
                self.assertEqual(failure_block(ran.stderr.splitlines(), module), block)

    def test_the_time_after_the_save_counts_from_when_watch_saw_it_not_from_the_files_mtime(self):
        watch = self.watch()
        watch.write("scratch/test_c.py", "import unittest\n\n\nclass C(unittest.TestCase):\n"
                                         "    def test_c(self):\n        pass\n")
        an_hour_ago = time.time() - 3600
        os.utime(watch.root / "scratch/test_c.py", (an_hour_ago, an_hour_ago))
        os.rename(watch.root / "scratch/test_c.py", watch.root / "tests/test_c.py")  # as mv does: the mtime stays
        seconds = watch.expect(r"^tddkit: 4 passed, 0 failed \(([\d.]+) s after the save\)$").group(1)
        self.assertLess(float(seconds), 60.0, watch.output())


@NEEDS_WATCHFILES
class WatchTargetTests(unittest.TestCase):
    def test_a_target_that_is_nowhere_is_the_one_line_error_run_gives(self):
        tmp = shared_tempdir()
        self.addCleanup(tmp.cleanup)
        dsn = ["--dsn", tddkit.get_session().server_dsn]
        watched = run_cli(["watch", "nonexistent_dir", *dsn], cwd=tmp.name, timeout=WAIT)
        ran = run_cli(["run", "nonexistent_dir", *dsn], cwd=tmp.name)
        self.assertEqual(watched.returncode, 2, watched.stderr)
        self.assertEqual(len(watched.stderr.splitlines()), 1, watched.stderr)
        self.assertIn("no test directory, file or module named 'nonexistent_dir'", watched.stderr)
        self.assertEqual(watched.stderr, ran.stderr)
