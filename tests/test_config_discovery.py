"""Config is found from the tests being run, not from the current directory; one template per project."""

import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tddkit.config.settings import load_settings
from tddkit.session.schema import SchemaSource
from tddkit.session.template import TEMPLATE_PREFIX
from tests.support import child_env, run_cli


def make_project(root: Path) -> Path:
    """A project with its config at the top and its tests in tests/ (a package)."""
    (root / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["db/schema.sql"]\n')
    (root / "db").mkdir()
    (root / "db" / "schema.sql").write_text("CREATE TABLE gadgets (id serial PRIMARY KEY, name text);\n")
    tests = root / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("")
    (tests / "test_gadgets.py").write_text(textwrap.dedent("""
        import tddkit

        class GadgetTests(tddkit.TDDTestCase):
            def test_table_from_the_project_schema(self):
                self.conn.execute("INSERT INTO gadgets (name) VALUES ('a')")
                self.assertEqual(self.conn.execute("SELECT count(*) FROM gadgets").fetchone(), (1,))
    """))
    return tests


class ConfigDiscoveryTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.root = Path(self.tmp.name).resolve() / "project"
        self.root.mkdir()
        self.tests = make_project(self.root)
        self.elsewhere = Path(self.tmp.name) / "elsewhere"
        self.elsewhere.mkdir()

    def test_run_from_another_directory_uses_the_projects_config_and_says_so(self):
        done = run_cli(["run", str(self.tests), "--no-report"], cwd=self.elsewhere)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stderr.splitlines()[0], f"tddkit: config: {self.root / 'pyproject.toml'}")

    def test_a_run_without_config_says_so_in_its_first_line(self):
        (self.root / "pyproject.toml").unlink()
        done = run_cli(["run", str(self.tests), "--no-report"], cwd=self.elsewhere)
        self.assertEqual(done.stderr.splitlines()[0], "tddkit: no config file found: no schema")

    def test_plain_unittest_from_another_directory_finds_it_from_the_test_module(self):
        done = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", str(self.tests), "-t",
                               str(self.root)], cwd=self.elsewhere, env=child_env(), capture_output=True,
                              text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Ran 1 test", done.stderr)

    def test_runs_from_two_directories_share_one_template(self):
        server_dsn = tddkit.get_session().server_dsn
        for cwd in (self.root, self.elsewhere):
            done = run_cli(["run", str(self.tests), "--no-report", "--dsn", server_dsn], cwd=cwd)
            self.assertEqual(done.returncode, 0, done.stderr)
        project = SchemaSource.from_settings(load_settings(targets=[str(self.tests)], environ={})).project
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            names = [r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                 (f"{TEMPLATE_PREFIX}{project}%",))]
            for name in names:
                admin.execute(f'DROP DATABASE "{name}"')
        self.assertEqual(len(names), 1, names)


if __name__ == "__main__":
    unittest.main()
