"""What tddkit drops, replaces or reuses: only databases it can prove it made, never a template a live run uses.

Every run here is a child ``python -m tddkit run`` (or pytest) against this session's server, as a user
runs it with ``--dsn``.
"""

import dataclasses
import os
import re
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

import tddkit
from tddkit.config.settings import Settings
from tddkit.errors import ConfigError, OwnershipError
from tddkit.session.ownership import create_database, drop_database
from tddkit.session.schema import SchemaSource
from tddkit.session.session import Session
from tddkit.session.template import BUILD_PREFIX, TEMPLATE_PREFIX
from tests.support import child_env, run_cli, start_cli_until
from tests.test_pytest_plugin import HAVE_XDIST, PytestProject, output

SCHEMA = "CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL);\n"

#: A test that notes it ran: a refused run must stop before any test runs.
NOTES_IT_RAN = textwrap.dedent("""
    from pathlib import Path

    import tddkit


    class Inserts(tddkit.TDDTestCase):
        def test_insert(self):
            Path(__file__).with_name("ran").touch()
            self.conn.execute("INSERT INTO item (name) VALUES ('a')")
""")

#: Run A: its first test commits through self.dsn once run B is done, so A clones its template again.
LEAKS_AFTER_GO = textwrap.dedent("""
    import time
    from pathlib import Path

    import psycopg

    import tddkit

    HERE = Path(__file__).parent


    class A(tddkit.TDDTestCase):
        def test_1_commits_once_the_other_run_is_done(self):
            (HERE / "started").touch()
            deadline = time.monotonic() + 60
            while not (HERE / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute("INSERT INTO item (name) VALUES ('leaked')")

        def test_2_runs_on_the_schema_of_this_run(self):
            self.assertEqual(self.conn.execute("SELECT count(*) FROM item").fetchone(), (0,))
            self.assertIsNone(self.conn.execute("SELECT to_regclass('extra')").fetchone()[0])
""")

#: Run B, on the edited schema.
USES_EXTRA = textwrap.dedent("""
    import tddkit


    class B(tddkit.TDDTestCase):
        def test_extra(self):
            self.conn.execute("INSERT INTO extra (id) VALUES (1)")
""")


def server_dsn():
    return tddkit.get_session().server_dsn


def admin():
    return psycopg.connect(server_dsn(), autocommit=True)


def databases(pattern):
    with admin() as conn:
        return sorted(r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,)))


def make_database_with_rows(name, rows=1000):
    """A database tddkit did not make, holding ``rows`` rows in table ``precious``."""
    with admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(make_conninfo(server_dsn(), dbname=name), autocommit=True) as conn:
        conn.execute("CREATE TABLE precious AS SELECT generate_series(1, %s) AS id", (rows,))


def rows_in(name):
    with psycopg.connect(make_conninfo(server_dsn(), dbname=name)) as conn:
        return conn.execute("SELECT count(*) FROM precious").fetchone()[0]


def drop(*names):
    with admin() as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class ProjectCase(unittest.TestCase):
    """A throwaway project directory with SCHEMA; its templates are dropped after the test."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="tddkit-ownership-")
        self.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name)
        (self.root / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["schema.sql"]\ndurations_file = ""\n')
        (self.root / "schema.sql").write_text(SCHEMA)
        (self.root / "test_inserts.py").write_text(NOTES_IT_RAN)
        self.addCleanup(lambda: drop(*self.templates()))

    def source(self):
        return SchemaSource.from_settings(Settings(root=str(self.root), schema=["schema.sql"]))

    def templates(self):
        project = self.source().project
        return databases(f"{TEMPLATE_PREFIX}{project}%") + databases(f"{BUILD_PREFIX}{project}%")

    def run_tddkit(self, target="test_inserts.py", dsn=None, **env):
        return run_cli(["run", target, "--no-report", "--dsn", dsn or server_dsn()], env=child_env(**env),
                       cwd=self.root)

    def assert_refused(self, done, name):
        """Exit 2, one line naming the database, no test run."""
        self.assertEqual(done.returncode, 2, done.stderr)
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertIn(f"database {name!r} exists but tddkit cannot prove it made it", lines[0])
        self.assertIn(f'drop it yourself (DROP DATABASE "{name}")', lines[0])
        self.assertFalse((self.root / "ran").exists(), "a test ran")


class FixedNameTests(ProjectCase):
    def test_a_database_tddkit_did_not_make_is_refused_in_one_line_and_keeps_its_rows(self):
        name = f"tddkit_app_{os.getpid()}"
        make_database_with_rows(name)
        self.addCleanup(drop, name)
        role = f"tddkit_test_not_owner_{os.getpid()}"
        with admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(role)))
        self.addCleanup(self.drop_role, role)
        for who, dsn in (("a role that does not own it", make_conninfo(server_dsn(), user=role)),
                         ("its owner", server_dsn())):
            with self.subTest(who=who):
                done = self.run_tddkit(dsn=dsn, TDDKIT_DATABASE=name)
                self.assert_refused(done, name)
                self.assertIn("set 'database' (TDDKIT_DATABASE) to a name no database has, or unset it",
                              done.stderr)
                self.assertEqual(rows_in(name), 1000)

    def drop_role(self, role):
        drop(*self.templates())  # the ones it built
        with admin() as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    def test_a_database_left_by_an_earlier_run_is_still_replaced(self):
        name = f"tddkit_left_{os.getpid()}"
        self.addCleanup(drop, name)
        with admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("COMMENT ON DATABASE {} IS 'tddkit test database of process - 1 2'").format(
                sql.Identifier(name)))
        done = self.run_tddkit(TDDKIT_DATABASE=name)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue((self.root / "ran").exists())
        self.assertEqual(databases(name), [], "the run drops its database at the end")


class TemplateOwnershipTests(ProjectCase):
    def test_a_database_with_a_template_name_but_no_mark_is_never_dropped_or_cloned(self):
        source = self.source()
        stale = f"{TEMPLATE_PREFIX}{source.project}_0000000000000000"
        make_database_with_rows(stale)
        self.addCleanup(drop, stale)
        done = self.run_tddkit()  # builds the template, then prunes the project's stale templates
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(rows_in(stale), 1000)
        drop(source.template_name)
        (self.root / "ran").unlink()
        for name in (f"{BUILD_PREFIX}{source.project}_{source.fingerprint}", source.template_name):
            with self.subTest(name=name):
                make_database_with_rows(name)
                self.addCleanup(drop, name)
                self.assert_refused(self.run_tddkit(), name)
                self.assertEqual(rows_in(name), 1000)
                drop(name)


class ChokePointTests(unittest.TestCase):
    def test_drop_database_refuses_a_database_without_the_mark_and_drops_one_create_database_made(self):
        made, foreign = f"tddkit_made_{os.getpid()}", f"tddkit_foreign_{os.getpid()}"
        make_database_with_rows(foreign)
        self.addCleanup(drop, made, foreign)
        with admin() as conn:
            with self.assertRaises(OwnershipError) as caught:
                drop_database(conn, foreign)
            create_database(conn, made)
            drop_database(conn, made)
        self.assertIn(f"database {foreign!r} exists but tddkit cannot prove it made it", str(caught.exception))
        self.assertEqual(rows_in(foreign), 1000)
        self.assertEqual(databases(made), [])


class LiveTemplateTests(ProjectCase):
    def test_a_run_of_another_schema_keeps_the_template_a_live_run_clones_from(self):
        (self.root / "test_a.py").write_text(LEAKS_AFTER_GO)
        (self.root / "test_b.py").write_text(USES_EXTRA)
        env = child_env()
        run_a = start_cli_until(self.root / "started", ["run", "test_a.py", "-v", "--no-report", "--dsn",
                                                        server_dsn()], env, cwd=self.root)
        self.addCleanup(run_a.wait)
        self.addCleanup(run_a.kill)
        template_a = self.source().template_name

        (self.root / "schema.sql").write_text(SCHEMA + "CREATE TABLE extra (id int);\n")
        run_b = self.run_tddkit("test_b.py")
        self.assertEqual(run_b.returncode, 0, run_b.stderr)
        template_b = self.source().template_name
        self.assertEqual(self.templates(), sorted([template_a, template_b]), "run A still uses its template")

        (self.root / "go").touch()
        _, err = run_a.communicate(timeout=60)
        self.assertEqual(run_a.returncode, 1, err)  # its first test leaked, as it meant to
        self.assertRegex(err, r"test_1_commits_once_the_other_run_is_done \S+ \.\.\. ERROR")
        self.assertRegex(err, r"test_2_runs_on_the_schema_of_this_run \S+ \.\.\. ok")
        self.assertIn("another connection committed changes during this test: writes to public.item", err)
        self.assertNotRegex(err, re.compile("does not exist|database is closed"))

        again = self.run_tddkit("test_b.py")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(self.templates(), [template_b], "no live run holds A's template any more: pruned")

    def test_rebuild_schema_refuses_to_replace_a_template_a_live_run_holds(self):
        settings = Settings(root=str(self.root), schema=["schema.sql"], dsn=server_dsn(), pool_min_size=0)
        live = Session(settings)._start()
        self.addCleanup(live._close)
        with self.assertRaises(ConfigError) as caught:
            Session(dataclasses.replace(settings, rebuild_schema=True))._start()
        self.assertIn(f"schema template {live._template.name!r} is in use by another live run", str(caught.exception))
        self.assertEqual(self.templates(), [live._template.name])
        live._close()
        rebuilt = Session(dataclasses.replace(settings, rebuild_schema=True))._start()
        self.addCleanup(rebuilt._close)
        self.assertTrue(rebuilt._template.built)

    def test_a_session_switching_schemas_holds_the_new_template_and_lets_the_old_one_go(self):
        settings = Settings(root=str(self.root), schema=["schema.sql"], dsn=server_dsn(), pool_min_size=0)
        watching = Session(settings)._start()  # as watch does on a save of the schema
        self.addCleanup(watching._close)
        first = watching._template.name
        (self.root / "schema.sql").write_text(SCHEMA + "CREATE TABLE extra (id int);\n")
        second = watching._switch_template(self.source())
        self.assertTrue(second.built)
        self.assertEqual(self.templates(), [second.name], f"{first} is no longer held by anyone")
        (self.root / "schema.sql").write_text(SCHEMA + "CREATE TABLE other (id int);\n")
        other = Session(settings)._start()
        self.addCleanup(other._close)
        self.assertEqual(self.templates(), sorted([second.name, other._template.name]), "the session holds its new one")


@unittest.skipUnless(HAVE_XDIST, "pytest-xdist is not installed")
class XdistFixedNameTests(unittest.TestCase):
    def test_each_xdist_worker_gets_its_own_database_of_the_fixed_name(self):
        name = f"tddkit_fixed_{os.getpid()}"
        project = PytestProject(self, "module_data", "next_module")
        done = project.pytest("-q", "-n", "2", "--dist", "loadfile", shared_server=True, TDDKIT_DATABASE=name)
        self.assertEqual(done.returncode, 0, output(done))
        self.assertIn("7 passed", done.stdout)
        self.assertEqual(databases(f"{name}%"), [], "each worker drops its database")


if __name__ == "__main__":
    unittest.main()
