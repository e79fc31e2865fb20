"""The async fixtures under pytest as users run them: pytest-asyncio in both loop scopes, anyio, pytest-xdist."""

import importlib.util
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_pytest_plugin import PytestProject, output

HAVE = {name: importlib.util.find_spec(name) is not None
        for name in ("pytest_asyncio", "anyio", "xdist", "sqlalchemy", "greenlet")}
SCOPE = "asyncio_default_fixture_loop_scope={0}"


@unittest.skipUnless(HAVE["pytest_asyncio"] and HAVE["sqlalchemy"] and HAVE["greenlet"],
                     "pytest-asyncio and SQLAlchemy asyncio are not installed")
class PytestAsyncioTests(unittest.TestCase):
    def run_scope(self, scope):
        project = PytestProject(self, "async_fixtures")
        done = project.pytest("-q", "-p", "no:anyio", "-o", SCOPE.format(scope),
                              "-o", f"asyncio_default_test_loop_scope={scope}", shared_server=True)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("4 passed", done.stdout)
        self.assertEqual(project.leftovers(), [])

    def test_function_loop_scope(self):
        self.run_scope("function")

    def test_session_loop_scope(self):
        self.run_scope("session")

    @unittest.skipUnless(HAVE["xdist"], "pytest-xdist is not installed")
    def test_xdist(self):
        done = PytestProject(self, "async_fixtures").pytest("-q", "-n", "2", "-o", SCOPE.format("function"),
                                                             shared_server=True)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("4 passed", done.stdout)


@unittest.skipUnless(HAVE["anyio"] and HAVE["sqlalchemy"] and HAVE["greenlet"], "anyio is not installed")
class AnyioTests(unittest.TestCase):
    def test_anyio_plugin_without_pytest_asyncio(self):
        project = PytestProject(self, "async_fixtures", "anyio_fixtures")
        done = project.pytest("-q", "-p", "no:asyncio", "test_anyio_fixtures.py", shared_server=True)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("4 passed", done.stdout)


if __name__ == "__main__":
    unittest.main()
