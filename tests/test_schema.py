"""The schema template: built once, reused while unchanged, rebuilt when edited, safe under concurrency."""

import dataclasses
import re
import sys
import tempfile
import textwrap
import threading
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tddkit.config.settings import Settings
from tddkit.errors import ConfigError, SchemaError
from tddkit.session.schema import SchemaSource
from tddkit.session.session import Session
from tests.cases import schema_hooks
from tests.support import child_env, drop_project_templates, project_templates, run_cli, shared_tempdir

SCHEMA = "CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL);\n"


def server_dsn():
    return tddkit.get_session().server_dsn


class Project:
    """A throwaway project directory with a schema file, and TestDatabases made from it."""

    def __init__(self, schema=SCHEMA, hook="tests.cases.schema_hooks:create_audit_table"):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        self.schema_file = self.root / "schema.sql"
        self.schema_file.write_text(schema)
        self.hook = hook
        self.version = ""
        self.made = []

    def settings(self):
        return Settings(root=str(self.root), schema=["schema.sql"], schema_hook=self.hook, pool_min_size=0,
                        schema_version=self.version, dsn=server_dsn())

    def database(self, rebuild=False):
        """A started session on the project's schema (its ``template`` says whether it was built)."""
        session = Session(dataclasses.replace(self.settings(), rebuild_schema=rebuild))._start()
        self.made.append(session)
        return session

    def templates(self):
        return project_templates(server_dsn(), self.root)

    def close(self):
        for session in self.made:
            session._close()
        drop_project_templates(server_dsn(), self.root)
        self.tmp.cleanup()


class TemplateTests(unittest.TestCase):
    def setUp(self):
        schema_hooks.CALLS.clear()
        self.project = Project()
        self.addCleanup(self.project.close)

    def test_second_run_reuses_the_template_without_any_ddl(self):
        first = self.project.database()
        second = self.project.database()
        self.assertTrue(first._template.built)
        self.assertFalse(second._template.built)
        self.assertEqual(first._template.name, second._template.name)
        self.assertEqual(len(schema_hooks.CALLS), 1, "the schema hook (the DDL) ran again")
        with psycopg.connect(second.dsn) as conn:
            self.assertEqual(conn.execute("SELECT count(*) FROM item").fetchone(), (0,))
            self.assertEqual(conn.execute("SELECT count(*) FROM audit").fetchone(), (0,))

    def test_editing_a_schema_file_rebuilds_and_drops_the_stale_template_once_no_run_uses_it(self):
        first = self.project.database()
        old = first._template.name
        self.project.schema_file.write_text(SCHEMA + "CREATE TABLE extra (id int);\n")
        new = self.project.database()
        self.assertTrue(new._template.built)
        self.assertNotEqual(new._template.name, old)
        self.assertEqual(self.project.templates(), sorted([old, new._template.name]), "the first run still uses it")
        with psycopg.connect(new.dsn) as conn:
            conn.execute("SELECT * FROM extra")
        first._close()
        self.assertFalse(self.project.database()._template.built)
        self.assertEqual(self.project.templates(), [new._template.name])

    def test_schema_version_and_rebuild_flag_force_a_rebuild(self):
        session = self.project.database()
        first = session._template.name
        session._close()  # a template a live run uses is not rebuilt (see test_ownership)
        rebuilt = self.project.database(rebuild=True)
        self.assertTrue(rebuilt._template.built)
        self.assertEqual(rebuilt._template.reason, "rebuild requested")
        rebuilt._close()
        self.project.version = "2"
        bumped = self.project.database()._template
        self.assertTrue(bumped.built)
        self.assertEqual(bumped.reason, "changed: schema_version")
        self.assertNotEqual(bumped.name, first)
        self.assertEqual(len(schema_hooks.CALLS), 3)

    def test_broken_schema_names_file_and_line_and_leaves_no_template(self):
        self.project.schema_file.write_text(SCHEMA + "\nCREATE TABLE broken (\n  id int,\n  x nosuchtype\n);\n")
        with self.assertRaises(SchemaError) as caught:
            self.project.database()
        self.assertIn("schema.sql:5", str(caught.exception))
        self.assertIn('type "nosuchtype" does not exist', str(caught.exception))
        self.assertEqual(self.project.templates(), [])

    def test_two_concurrent_runs_both_succeed_and_build_once(self):
        self.project.hook = "tests.cases.schema_hooks:slow_create_audit_table"
        results, errors = [], []

        def run():
            try:
                results.append(self.project.database())
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(r._template.built for r in results), [False, True])
        self.assertEqual(len(schema_hooks.CALLS), 1)


class SchemaInputTests(unittest.TestCase):
    def setUp(self):
        schema_hooks.CALLS.clear()
        self.project = Project(hook="tests.cases.schema_hooks:load_seed")
        self.addCleanup(self.project.close)
        self.seed = self.project.root / "seed" / "notes.csv"
        self.seed.parent.mkdir()
        self.seed.write_text("first\n")
        schema_hooks.SEED["path"] = str(self.seed)

    def database(self, **changes):
        changes.setdefault("schema_inputs", ["seed/*.csv"])
        session = Session(dataclasses.replace(self.project.settings(), **changes))
        self.project.made.append(session._start())
        return session

    def notes(self, session):
        with psycopg.connect(session.dsn) as conn:
            return [r[0] for r in conn.execute("SELECT note FROM audit ORDER BY id")]

    def test_editing_an_input_file_rebuilds_and_reverting_reuses_nothing_stale(self):
        first = self.database()
        self.assertEqual(self.notes(first), ["first"])
        self.seed.write_text("second\n")
        edited = self.database()
        self.assertTrue(edited._template.built, "an edited seed file must rebuild the template")
        self.assertEqual(self.notes(edited), ["second"])
        self.seed.write_text("first\n")
        reverted = self.database()
        self.assertEqual(self.notes(reverted), ["first"], "after a revert the data is the file's again")

    def test_a_pattern_that_matches_nothing_is_a_config_error(self):
        with self.assertRaises(ConfigError) as caught:
            self.database(schema_inputs=["seed/*.json"])
        self.assertIn("'seed/*.json' matches no file", str(caught.exception))

    def test_a_pattern_leaving_the_project_or_an_unreadable_file_is_one_line_and_exit_2(self):
        (self.project.root / "test_x.py").write_text("import tddkit\n\nclass X(tddkit.TDDTestCase):\n"
                                                     "    def test_x(self):\n        pass\n")
        (self.seed.parent / "mem").symlink_to("/proc/self/mem")  # a regular file even root cannot read
        for pattern, expected in (
            ("../../../**/*", "schema_inputs pattern '../../../**/*' leaves the project directory"),
            ("/etc/*", "schema_inputs pattern '/etc/*' leaves the project directory"),
            ("seed/*", f"schema_inputs file {self.seed.parent / 'mem'} cannot be read (Input/output error)"),
        ):
            with self.subTest(pattern=pattern):
                (self.project.root / "pyproject.toml").write_text(
                    f'[tool.tddkit]\nschema = ["schema.sql"]\nschema_inputs = ["{pattern}"]\n')
                done = run_cli(["run", "test_x.py", "--no-report", "--dsn", server_dsn()], cwd=self.project.root)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
                self.assertIn(expected, done.stderr)
                self.assertNotIn("Ran ", done.stderr)

    def test_the_hook_module_source_is_part_of_the_hash(self):
        module = self.project.root / "project_hooks_for_hash.py"
        module.write_text("def build(conn):\n    conn.execute('CREATE TABLE a (id int)')\n")
        sys.path.insert(0, str(self.project.root))
        self.addCleanup(sys.path.remove, str(self.project.root))
        settings = dataclasses.replace(self.project.settings(), schema_hook="project_hooks_for_hash:build")
        before = SchemaSource.from_settings(settings).fingerprint
        module.write_text("def build(conn):\n    conn.execute('CREATE TABLE b (id int)')\n")
        self.assertNotEqual(SchemaSource.from_settings(settings).fingerprint, before)


class HookImportTests(unittest.TestCase):
    """The hook's module is hashed by its file's bytes: it is imported (and its imports made) only to build."""

    def test_the_hook_module_is_imported_only_when_the_template_is_built(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            self.addCleanup(drop_project_templates, server_dsn(), root)
            marker = root / "imports"
            (root / "pyproject.toml").write_text('[tool.tddkit]\nschema_hook = "hooks:build"\n')
            (root / "hooks.py").write_text(textwrap.dedent(f"""
                with open({str(marker)!r}, "a") as fh:
                    fh.write("imported\\n")

                def build(conn):
                    conn.execute("CREATE TABLE a (id int)")
            """))
            (root / "test_x.py").write_text("import tddkit\n\nclass X(tddkit.TDDTestCase):\n"
                                            "    def test_x(self):\n        pass\n")
            lines = []
            for edit in (None, None, "CREATE TABLE b (id int)"):
                if edit:
                    (root / "hooks.py").write_text((root / "hooks.py").read_text().replace("CREATE TABLE a (id int)",
                                                                                         edit))
                done = run_cli(["run", "test_x.py", "--no-report", "--dsn", server_dsn()], cwd=root)
                self.assertEqual(done.returncode, 0, done.stderr)
                line = next(line for line in done.stderr.splitlines() if "schema template" in line)
                lines.append((re.sub(r".*schema template \S+ (built|reused).*", r"\1", line),
                              marker.read_text().count("imported")))
        self.assertEqual(lines, [("built", 1), ("reused", 1), ("built", 2)], "(template, imports of the hook so far)")

    def test_a_hook_module_that_does_not_exist_is_one_line_before_any_server_work(self):
        project = Project(hook="tests.cases.no_such_module:build")
        self.addCleanup(project.close)
        with self.assertRaises(ConfigError) as caught:
            SchemaSource.from_settings(project.settings())
        self.assertEqual(str(caught.exception), "schema_hook 'tests.cases.no_such_module:build' cannot be loaded: No "
                                                "module named 'tests.cases.no_such_module'")


class SchemaErrorLineTests(unittest.TestCase):
    def test_a_hook_raising_python_errors_is_one_line_naming_hook_and_place(self):
        project = Project(hook="tests.cases.schema_hooks:asserts_on_its_seed")
        self.addCleanup(project.close)
        with self.assertRaises(SchemaError) as caught:
            project.database()
        line = next(n for n, text in enumerate(Path(schema_hooks.__file__).read_text().splitlines(), 1)
                    if "RAISES HERE" in text)
        self.assertEqual(str(caught.exception),
                         "schema_hook 'tests.cases.schema_hooks:asserts_on_its_seed' raised ValueError: the seed "
                         f"data has no admin user (at {schema_hooks.__file__}:{line})")

    def test_cli_one_line_and_exit_2_for_a_failing_hook_and_a_non_utf8_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "test_x.py").write_text("import tddkit\n\nclass X(tddkit.TDDTestCase):\n"
                                            "    def test_x(self):\n        pass\n")
            (root / "hooks.py").write_text("def build(conn):\n    raise RuntimeError('no seed')\n")
            for config, expected in (
                ('schema_hook = "hooks:build"', "schema_hook 'hooks:build' raised RuntimeError: no seed"),
                ('schema = ["latin1.sql"]', "latin1.sql is not UTF-8 text"),
            ):
                with self.subTest(config=config):
                    (root / "latin1.sql").write_bytes("-- caf\xe9\nCREATE TABLE t (id int);\n".encode("latin-1"))
                    (root / "pyproject.toml").write_text(f"[tool.tddkit]\n{config}\n")
                    done = run_cli(["run", ".", "--no-report"], cwd=root)
                    self.assertEqual(done.returncode, 2, done.stderr)
                    self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
                    self.assertIn(expected, done.stderr)


class EmbeddedSnapshotTests(unittest.TestCase):
    """With the embedded server the cluster is thrown away, so the template lives in a cached snapshot."""

    def test_cold_then_warm_then_edited(self):
        with shared_tempdir() as cache, tempfile.TemporaryDirectory() as project:
            root = Path(project)
            (root / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["schema.sql"]\n')
            (root / "schema.sql").write_text(SCHEMA)
            (root / "test_items.py").write_text(textwrap.dedent("""
                import tddkit

                class ItemTests(tddkit.TDDTestCase):
                    def test_insert(self):
                        self.conn.execute("INSERT INTO item (name) VALUES ('a')")
                        self.assertEqual(self.conn.execute("SELECT count(*) FROM item").fetchone(), (1,))
            """))
            env = child_env(TDDKIT_CACHE_DIR=cache)
            lines = []
            for edit in (None, None, "CREATE TABLE more (id int);\n", None):
                if edit:
                    (root / "schema.sql").write_text(SCHEMA + edit)
                done = run_cli(["run", ".", "--no-report"], env=env, cwd=root)
                self.assertEqual(done.returncode, 0, done.stderr)
                lines.append(done.stderr.splitlines()[1])
            rebuilt = run_cli(["run", ".", "--no-report", "--rebuild-schema"], env=env, cwd=root)
            lines.append(rebuilt.stderr.splitlines()[1])
        self.assertEqual([("built" if " built in " in line else "reused") for line in lines],
                         ["built", "reused", "built", "reused", "built"], "\n".join(lines))


if __name__ == "__main__":
    unittest.main()
