"""Alembic as the schema source: a real project (tests/alembic_project) run by ``tddkit run`` and pytest.

Each test copies the project into a temporary directory and runs tddkit in a
child process on this session's server; the project's test module prints
what the test database holds (``SCHEMA ...``) and what was imported
(``IMPORTED ...``).
"""

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.conninfo import conninfo_to_dict

import tddkit
from tests.support import ROOT, child_env, drop_project_templates, project_templates, run_cli
from tests.watch_support import HAVE_WATCHFILES, WatchProcess

PROJECT_FILES = ROOT / "tests" / "alembic_project"
HAVE_ALEMBIC = importlib.util.find_spec("alembic") is not None and importlib.util.find_spec("sqlalchemy") is not None
REVISION_3 = "migrations/versions/0003_index_item_name.py"
SECOND_INDEX = '    op.create_index("item_name_idx", "item", ["name"])\n'


def server_dsn() -> str:
    return tddkit.get_session().server_dsn


class ShopProject:
    """The Alembic project in a temporary directory, with ``env`` as its migrations/env.py."""

    def __init__(self, test: unittest.TestCase, env: str = "shared connection", config: str = "") -> None:
        tmp = tempfile.TemporaryDirectory(prefix="tddkit-alembic-")
        test.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name) / "shop"
        shutil.copytree(PROJECT_FILES, self.root, ignore=shutil.ignore_patterns("__pycache__"))
        if env == "own engine":
            shutil.copy(self.root / "env_own_engine.py", self.root / "migrations" / "env.py")
        shutil.copy(self.root / "shop_checks.py", self.root / "test_shop.py")
        (self.root / "pyproject.toml").write_text(f'[tool.tddkit]\nalembic_config = "alembic.ini"\n{config}')
        test.addCleanup(drop_project_templates, server_dsn(), self.root)

    def run(self, **env: str) -> subprocess.CompletedProcess:
        """``python -m tddkit run test_shop.py`` (a file: discovery would import the models package itself)."""
        return run_cli(["run", "test_shop.py", "--no-report", "--dsn", server_dsn()], env=child_env(**env),
                       cwd=self.root)

    def pytest(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", "test_shop.py",
                               f"--tddkit-dsn={server_dsn()}", *args], cwd=self.root, env=child_env(),
                              capture_output=True, text=True, timeout=120)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text()
        assert text.count(old) == 1, (relative, old)
        path.write_text(text.replace(old, new))


def facts(done: subprocess.CompletedProcess) -> dict:
    """What the child's test printed, and how its template was obtained (the tddkit line naming it)."""
    found = dict(re.findall(r"^(SCHEMA|IMPORTED) (.*)$", done.stderr + done.stdout, re.MULTILINE))
    template = re.search(r"^tddkit: .*schema template \S+ (built in [\d.]+ ms \(.*?\)|reused \(unchanged)",
                         done.stderr + done.stdout, re.MULTILINE)
    found["template"] = re.sub(r"built in [\d.]+ ms", "built", template.group(1)) if template else None
    return found


HEAD = "columns=id,name,price indexes=item_name_idx version=0003"


@unittest.skipUnless(HAVE_ALEMBIC, "Alembic and SQLAlchemy are not installed (pip install 'tddkit[alembic]')")
class AlembicTemplateTests(unittest.TestCase):
    def test_the_template_is_built_from_head_with_either_kind_of_env_py(self):
        unreachable = "postgresql+psycopg://nobody@127.0.0.1:9/elsewhere"
        for env, config, variables in (
            ("shared connection", "", {}),  # config.attributes["connection"]
            ("own engine", "", {}),  # its engine from sqlalchemy.url
            ("own engine", 'alembic_url_env = ["APP_DATABASE_URL"]', {"APP_DATABASE_URL": unreachable}),
        ):
            with self.subTest(env=env, config=config):
                done = ShopProject(self, env, config).run(**variables)
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(facts(done)["SCHEMA"], HEAD)
                self.assertEqual(facts(done)["template"], "built (first build here)")

    def test_editing_a_revision_env_py_or_a_model_rebuilds_and_says_what_changed(self):
        project = ShopProject(self)
        steps = [
            ("first", None, "built (first build here)", HEAD),
            ("unchanged", None, "reused (unchanged", HEAD),
            ("revision", lambda: project.edit(REVISION_3, SECOND_INDEX, SECOND_INDEX + SECOND_INDEX.replace(
                "item_name_idx", "item_price_idx").replace('["name"]', '["price"]')),
             f"built (changed: {REVISION_3})", HEAD.replace("item_name_idx", "item_name_idx,item_price_idx")),
            ("env.py", lambda: project.edit("migrations/env.py", "run_migrations_online()\n",
                                            "run_migrations_online()  # edited\n"),
             "built (changed: migrations/env.py)", None),
            ("model", lambda: project.edit("shop_models/base.py", "    pass\n", "    pass  # edited\n"),
             "built (changed: shop_models/base.py)", None),
            ("unchanged again", None, "reused (unchanged", None),
        ]
        for name, change, template, schema in steps:
            with self.subTest(step=name):
                if change:
                    change()
                done = project.run()
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(facts(done)["template"], template, done.stderr)
                if schema:
                    self.assertEqual(facts(done)["SCHEMA"], schema)
        self.assertEqual(len(project_templates(server_dsn(), project.root)), 1, "the stale templates are dropped")

    def test_a_reused_template_imports_neither_alembic_nor_the_models(self):
        project = ShopProject(self)
        built, reused = project.run(), project.run()
        self.assertEqual(facts(built)["IMPORTED"], "alembic,shop_models", built.stderr)
        self.assertEqual(facts(reused)["template"], "reused (unchanged", reused.stderr)
        self.assertEqual(facts(reused)["IMPORTED"], "-", reused.stderr)

    def test_a_failing_migration_is_one_line_naming_the_revision_and_exit_2(self):
        project, revision = ShopProject(self), "migrations/versions/0002_add_item_price.py"
        project.edit(revision, 'op.add_column("item"', 'op.add_column("itemz"')
        lines = (project.root / revision).read_text().splitlines()
        line = next(n for n, text in enumerate(lines, 1) if "itemz" in text)
        done = project.run()
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(done.stderr.strip().splitlines(), [
            f"tddkit: error: alembic revision 0002 ({revision}:{line}) failed: UndefinedTable: relation \"itemz\" "
            "does not exist"])
        self.assertEqual(project_templates(server_dsn(), project.root), [], "no template, half-built or not")

    def test_migrations_connecting_to_another_database_are_refused_before_they_run(self):
        params = conninfo_to_dict(server_dsn())
        from sqlalchemy.engine import URL

        other = URL.create("postgresql+psycopg", username=params.get("user"), password=params.get("password"),
                           database="postgres", query={k: str(params[k]) for k in ("host", "port") if k in params})
        project = ShopProject(self, "own engine")  # APP_DATABASE_URL is not in alembic_url_env: tddkit leaves it
        done = project.run(APP_DATABASE_URL=other.render_as_string(hide_password=False))
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("tddkit: error: the Alembic migrations connected to database 'postgres' instead of tddkit's "
                      "template database", done.stderr)
        self.assertNotIn("Traceback", done.stderr)
        with psycopg.connect(server_dsn(), dbname="postgres") as conn:
            self.assertIsNone(conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0])

    def test_a_bad_alembic_config_is_one_line_and_exit_2(self):
        for config, expected in (
            ('alembic_config = "nowhere.ini"', "alembic_config file {root}/nowhere.ini not found"),
            (None, "{root}/alembic.ini has no script_location in its [alembic] section"),
        ):
            with self.subTest(expected=expected):
                project = ShopProject(self)
                if config:
                    (project.root / "pyproject.toml").write_text(f"[tool.tddkit]\n{config}\n")
                else:
                    project.edit("alembic.ini", "script_location = %(here)s/migrations\n", "")
                done = project.run()
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
                self.assertIn(expected.format(root=project.root), done.stderr)


@unittest.skipUnless(HAVE_ALEMBIC and HAVE_WATCHFILES, "Alembic, SQLAlchemy or watchfiles is not installed")
class AlembicWatchTests(unittest.TestCase):
    def test_a_new_revision_file_rebuilds_the_template_while_watching(self):
        files = {str(p.relative_to(PROJECT_FILES)): p.read_text() for p in PROJECT_FILES.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
        files.update({"pyproject.toml": '[tool.tddkit]\nalembic_config = "alembic.ini"\n', "tests/__init__.py": "",
                      "tests/test_shop.py": files.pop("shop_checks.py")})
        watch = WatchProcess(self, dsn=server_dsn(), files=files)
        self.addCleanup(lambda: (watch.stop(), drop_project_templates(server_dsn(), watch.root)))
        self.assertEqual(watch.first, "tddkit: 1 passed, 0 failed")
        revision = "migrations/versions/0004_create_tag.py"
        watch.write(revision, files[REVISION_3].replace('"0003"', '"0004"').replace('"0002"', '"0003"').replace(
            SECOND_INDEX, '    op.execute("CREATE TABLE tag (id int)")\n'))
        watch.expect(rf"^tddkit: schema changed: schema template \S+ built in [\d.]+ ms \(changed: {revision}\)")
        watch.expect(r"^SCHEMA .* version=0004$")
        self.assertEqual(watch.closing_line(), "tddkit: 1 passed, 0 failed")


@unittest.skipUnless(HAVE_ALEMBIC, "Alembic and SQLAlchemy are not installed (pip install 'tddkit[alembic]')")
class AlembicPytestTests(unittest.TestCase):
    def test_pytest_says_which_config_and_that_an_edited_revision_rebuilt_the_template(self):
        project = ShopProject(self)
        first = project.pytest()
        self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
        self.assertIn(f"tddkit: config: {project.root}/pyproject.toml", first.stdout)
        project.edit(REVISION_3, SECOND_INDEX, SECOND_INDEX + SECOND_INDEX.replace("item_name_idx", "item_price_idx"))
        edited = project.pytest()
        self.assertEqual(edited.returncode, 0, edited.stdout + edited.stderr)
        header = edited.stdout.split("test_shop.py")[0]  # everything before the first test's line
        self.assertIn(f"tddkit: config: {project.root}/pyproject.toml", header)
        self.assertRegex(header, rf"schema template \S+ built in [\d.]+ ms \(changed: {REVISION_3}\)")
        closing = edited.stdout.strip().splitlines()[-3:]
        self.assertTrue(any(re.match(rf"tddkit: schema template \S+ built in [\d.]+ ms \(changed: {REVISION_3}\)",
                                     line) for line in closing), closing)
        self.assertIn("item_price_idx", facts(edited)["SCHEMA"])
        reused = project.pytest()
        self.assertIn("reused (unchanged", reused.stdout.split("test_shop.py")[0])


if __name__ == "__main__":
    unittest.main()
