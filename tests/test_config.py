"""Settings: precedence of sources, validation, clear errors."""

import tempfile
import textwrap
import unittest
from pathlib import Path

from tddkit.config import DEFAULT_TARGETS, Settings, load_settings
from tddkit.errors import ConfigError


class ProjectDir:
    """A temporary project directory with optional pyproject.toml and setup.cfg."""

    def __init__(self, pyproject: str = "", setup_cfg: str = "") -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name)
        if pyproject:
            (self.path / "pyproject.toml").write_text(textwrap.dedent(pyproject))
        if setup_cfg:
            (self.path / "setup.cfg").write_text(textwrap.dedent(setup_cfg))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        self.tmp.cleanup()


PYPROJECT = """
[tool.tddkit]
pool_max_size = 7
statement_timeout = 5
schema = ["db/schema.sql"]

[tool.tddkit.targets]
fixture_setup = 2.5
"""

SETUP_CFG = """
[tddkit]
pool_max_size = 3
pool_min_size = 1
pool_timeout = 4
"""


class PrecedenceTests(unittest.TestCase):
    def test_defaults_without_any_source(self):
        with ProjectDir(setup_cfg="[metadata]\nname = x\n") as root:
            settings = load_settings(environ={}, start=root)
        self.assertEqual(settings.pool_max_size, Settings().pool_max_size)
        self.assertIsNone(settings.dsn)
        self.assertEqual(settings.targets, DEFAULT_TARGETS)

    def test_each_source_overrides_the_one_below(self):
        with ProjectDir(PYPROJECT, SETUP_CFG) as root:
            files_only = load_settings(environ={}, start=root)
            with_env = load_settings(environ={"TDDKIT_POOL_MAX_SIZE": "9", "TDDKIT_POOL_TIMEOUT": "1.5"}, start=root)
            with_cli = load_settings({"pool_max_size": 11}, environ={"TDDKIT_POOL_MAX_SIZE": "9"}, start=root)
        self.assertEqual(files_only.pool_max_size, 7)  # pyproject beats setup.cfg
        self.assertEqual(files_only.pool_min_size, 1)  # setup.cfg beats defaults
        self.assertEqual(files_only.pool_timeout, 4.0)
        self.assertEqual(files_only.targets["fixture_setup"], 2.5)
        self.assertEqual(files_only.targets["individual_test"], DEFAULT_TARGETS["individual_test"])
        self.assertEqual((with_env.pool_max_size, with_env.pool_timeout), (9, 1.5))  # env beats files
        self.assertEqual(with_cli.pool_max_size, 11)  # CLI beats env

    def test_dsn_from_tddkit_database_url_then_database_url(self):
        env = {"DATABASE_URL": "postgresql://a@h/db", "TDDKIT_DATABASE_URL": "postgresql://b@h/db"}
        with ProjectDir(PYPROJECT) as root:
            self.assertEqual(load_settings(environ=env, start=root).dsn, "postgresql://b@h/db")
            self.assertEqual(load_settings(environ={"DATABASE_URL": "postgresql://a@h/db"}, start=root).dsn,
                             "postgresql://a@h/db")
            self.assertEqual(load_settings({"dsn": "postgresql://c@h/db"}, environ=env, start=root).dsn,
                             "postgresql://c@h/db")

    def test_relative_schema_paths_resolve_against_the_config_file(self):
        with ProjectDir(PYPROJECT) as root:
            (root / "sub").mkdir()
            settings = load_settings(environ={}, start=root / "sub")
            self.assertEqual(settings.resolve(settings.schema[0]), root.resolve() / "db" / "schema.sql")


class ValidationTests(unittest.TestCase):
    def assertConfigError(self, fragment, **kwargs):
        with self.assertRaises(ConfigError) as caught:
            load_settings(**kwargs)
        self.assertIn(fragment, str(caught.exception))

    def test_unknown_key_names_the_file_and_suggests(self):
        with ProjectDir("[tool.tddkit]\npool_max_sise = 3\n") as root:
            self.assertConfigError("did you mean 'pool_max_size'", environ={}, start=root)
            self.assertConfigError("pyproject.toml [tool.tddkit]", environ={}, start=root)

    def test_bad_value_names_setting_and_source(self):
        with ProjectDir("[tool.tddkit]\n") as root:
            self.assertConfigError("TDDKIT_POOL_MAX_SIZE", environ={"TDDKIT_POOL_MAX_SIZE": "many"}, start=root)

    def test_inconsistent_pool_sizes(self):
        with ProjectDir("[tool.tddkit]\npool_min_size = 5\npool_max_size = 2\n") as root:
            self.assertConfigError("raise pool_max_size", environ={}, start=root)

    def test_database_name_must_be_owned(self):
        with ProjectDir("[tool.tddkit]\n") as root:
            self.assertConfigError("only creates and drops databases it owns",
                                   overrides={"database": "production"}, environ={}, start=root)

    def test_unparsable_pyproject(self):
        with ProjectDir("[tool.tddkit\n") as root:
            self.assertConfigError("cannot parse", environ={}, start=root)


if __name__ == "__main__":
    unittest.main()
