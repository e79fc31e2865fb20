"""TDDTestCase classes run unchanged under plain unittest and pytest (session started lazily)."""

import importlib.util
import subprocess
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import ROOT, child_env, postgres_processes, shared_tempdir


def run_module(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=300)


class CompatibilityTests(unittest.TestCase):
    def test_plain_unittest_runs_the_examples(self):
        with shared_tempdir() as run_dir:
            done = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "examples", "-t", "."],
                                  cwd=ROOT, env=child_env(TDDKIT_RUN_DIR=run_dir), capture_output=True,
                                  text=True, timeout=300)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertRegex(done.stderr, r"Ran \d+ tests")
            self.assertEqual(postgres_processes(run_dir), [], "the lazily started server must stop at exit")

    def test_the_examples_pass_without_the_optional_extras(self):
        """README's first command on a fresh machine: no pytest, no SQLAlchemy installed."""
        hide = ("import sys; sys.modules.update(pytest=None, sqlalchemy=None); from tddkit.cli.main import main; "
                "sys.exit(main(['run', 'examples', '--no-report', '-v']))")
        done = subprocess.run([sys.executable, "-c", hide], cwd=ROOT, env=child_env(), capture_output=True,
                              text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("skipped \"pytest is not installed (pip install 'tddkit[pytest]')\"", done.stderr)
        self.assertRegex(done.stderr, r"tddkit: \d+ passed, 0 failed, \d+ skipped")

    @unittest.skipUnless(importlib.util.find_spec("pytest"), "pytest is not installed")
    def test_pytest_runs_the_examples(self):
        done = run_module("pytest", "examples", "-q", "-p", "no:cacheprovider")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertRegex(done.stdout, r"\d+ passed")


if __name__ == "__main__":
    unittest.main()
