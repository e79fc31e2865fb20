"""``python -m tddkit watch`` when things go wrong: a broken test module, bad targets."""

import re
import unittest
from typing import List

import tddkit
from tests.support import run_cli, shared_tempdir
from tests.watch_support import HAVE_WATCHFILES, WAIT, WatchProcess

NEEDS_WATCHFILES = unittest.skipUnless(HAVE_WATCHFILES, "watchfiles is not installed (pip install 'tddkit[watch]')")


def failure_block(lines: List[str], module: str) -> List[str]:
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


def frames_of(block: List[str]) -> List[str]:
    """The files of the traceback frames in a failure block."""
    return [match.group(1) for match in (re.match(r'\s+File "([^"]+)"', line) for line in block) if match]


@NEEDS_WATCHFILES
class WatchEditTests(unittest.TestCase):
    def watch(self) -> WatchProcess:
        return WatchProcess(self, dsn=tddkit.get_session().server_dsn)

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
