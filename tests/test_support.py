"""The tests' own helpers: a child run gets exactly the environment its test gives it."""

import os
import sys
import unittest
from pathlib import Path
from unittest import mock

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import ROOT, child_env, run_cli

#: What a tox environment or a user's shell may hold.
INHERITED = {
    "TDDKIT_PG_BINDIR": "/usr/lib/postgresql/15/bin",
    "TDDKIT_PG_SOURCE": "bindir",
    "TDDKIT_DATABASE_URL": "postgresql://app@db.example/app",
    "TDDKIT_POOL_MAX_SIZE": "3",
    "DATABASE_URL": "postgresql://app@db.example/app",
    "PGHOST": "db.example",
    "PGOPTIONS": "-c statement_timeout=1",
    "TDDKIT_CACHE_DIR": "/var/cache/somewhere",
    "LANG": "C.UTF-8",
}


class ChildEnvTests(unittest.TestCase):
    def test_inherited_settings_are_dropped_and_the_tests_own_kept(self):
        with mock.patch.dict(os.environ, INHERITED):
            env = child_env(TDDKIT_PG_SOURCE="wheel", PGAPPNAME="mine")
        self.assertFalse({"TDDKIT_PG_BINDIR", "TDDKIT_DATABASE_URL", "TDDKIT_POOL_MAX_SIZE", "DATABASE_URL",
                          "PGHOST", "PGOPTIONS"} & set(env))
        self.assertEqual((env["TDDKIT_PG_SOURCE"], env["PGAPPNAME"]), ("wheel", "mine"))
        self.assertEqual(env["TDDKIT_CACHE_DIR"], "/var/cache/somewhere", "where caches go is kept")
        self.assertEqual(env["LANG"], "C.UTF-8")
        self.assertEqual(env["PYTHONPATH"].split(os.pathsep)[0], str(ROOT))

    def test_a_child_run_ignores_the_parents_server_choice(self):
        """Under ``tox -e pg15`` the parent has TDDKIT_PG_BINDIR set; a child run asked for another source
        must not get it (it took the parent's binaries before)."""
        with mock.patch.dict(os.environ, {"TDDKIT_PG_BINDIR": "/nonexistent/bin", "TDDKIT_PG_SOURCE": "bindir"}):
            env = child_env()
        status = run_cli(["server", "status"], env=env)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertNotIn("/nonexistent/bin", status.stdout + status.stderr)


if __name__ == "__main__":
    unittest.main()
