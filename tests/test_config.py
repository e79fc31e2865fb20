"""Settings: precedence of sources, validation, clear errors, where the config file is found."""

import os
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.config.settings import (
    DEFAULT_GATE,
    DEFAULT_TARGETS,
    DEFAULT_THRESHOLDS,
    EMBEDDED_MAX_CONNECTIONS,
    EMBEDDED_POOL_LIMIT,
    Settings,
    describe_config,
    find_config,
    load_settings,
)
from tddkit.errors import ConfigError
from tddkit.server.settings import TEST_SERVER_SETTINGS


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


class ValueParsingTests(unittest.TestCase):
    """Each setting is parsed by the parser declared with it; a bad value is one line naming source and key."""

    def error(self, pyproject="", environ=None, **kwargs) -> str:
        with ProjectDir(pyproject or "[tool.tddkit]\n") as root, self.assertRaises(ConfigError) as caught:
            load_settings(environ=environ or {}, start=root, **kwargs)
        return str(caught.exception)

    def test_infinite_and_nan_numbers_are_refused(self):
        message = self.error("[tool.tddkit]\nstatement_timeout = inf\n")
        self.assertIn("pyproject.toml [tool.tddkit]: setting 'statement_timeout' has a bad value inf: expected a "
                      "number of seconds >= 0", message)
        self.assertIn("'pool_timeout' has a bad value nan: expected a number of seconds > 0",
                      self.error("[tool.tddkit]\npool_timeout = nan\n"))
        self.assertIn("environment variable TDDKIT_LOCK_TIMEOUT: setting 'lock_timeout' has a bad value 'inf'",
                      self.error(environ={"TDDKIT_LOCK_TIMEOUT": "inf"}))
        self.assertIn("'inf'", self.error(environ={"TDDKIT_MEMORY_WARNING_MB": "inf"}))

    def test_milliseconds_typed_into_a_seconds_setting(self):
        message = self.error("[tool.tddkit]\nstatement_timeout = 3600000\n")
        self.assertIn("setting 'statement_timeout' has a bad value 3600000: expected at most 86400 seconds (one day): "
                      "the unit is seconds, not milliseconds", message)
        self.assertIn("TDDKIT_RESOURCE_TIMEOUT", self.error(environ={"TDDKIT_RESOURCE_TIMEOUT": "600000"}))
        with ProjectDir("[tool.tddkit]\nstatement_timeout = 86400\nlock_timeout = 0\n") as root:
            settings = load_settings(environ={}, start=root)
        self.assertEqual((settings.statement_timeout, settings.lock_timeout), (86400.0, 0.0))

    def test_whole_numbers_lists_and_booleans_are_not_guessed(self):
        self.assertIn("'pool_max_size' has a bad value 7.5: expected a whole number >= 1",
                      self.error("[tool.tddkit]\npool_max_size = 7.5\n"))
        self.assertIn("'pool_min_size' has a bad value '-1': expected a whole number >= 0",
                      self.error(environ={"TDDKIT_POOL_MIN_SIZE": "-1"}))
        self.assertIn("'schema' has a bad value [1, 2]: expected a list of strings",
                      self.error("[tool.tddkit]\nschema = [1, 2]\n"))
        self.assertIn("'alerts_as_failures' has a bad value 'maybe': expected true or false",
                      self.error(environ={"TDDKIT_ALERTS_AS_FAILURES": "maybe"}))
        self.assertIn("'dsn' has a bad value ['x']: expected text", self.error("[tool.tddkit]\ndsn = ['x']\n"))
        cfg = "[tddkit]\nalerts_as_failures = yes\nschema = a.sql, b.sql\n"
        with ProjectDir(setup_cfg=cfg) as root:
            settings = load_settings(environ={"TDDKIT_REBUILD_SCHEMA": "off"}, start=root)
        self.assertEqual((settings.alerts_as_failures, settings.schema, settings.rebuild_schema),
                         (True, ["a.sql", "b.sql"], False))

    def test_pg_source_is_one_of_its_choices(self):
        self.assertIn("pyproject.toml [tool.tddkit]: setting 'pg_source' has a bad value 'wheels': expected one of "
                      "auto, system, wheel, bindir", self.error('[tool.tddkit]\npg_source = "wheels"\n'))
        self.assertIn("TDDKIT_PG_SOURCE", self.error(environ={"TDDKIT_PG_SOURCE": "apt"}))
        with ProjectDir('[tool.tddkit]\npg_source = "wheel"\n') as root:
            self.assertEqual(load_settings(environ={}, start=root).pg_source, "wheel")

    def test_tddkit_under_tool_must_be_a_table(self):
        message = self.error("[tool]\ntddkit = 5\n")
        self.assertIn("pyproject.toml: [tool] tddkit = 5 is not a table", message)
        self.assertNotIn("\n", message)

    def test_setup_cfg_values_are_not_interpolated(self):
        with ProjectDir(setup_cfg="[tddkit]\ndsn = postgresql://app:p%40ss@db/app\n") as root:
            self.assertEqual(load_settings(environ={}, start=root).dsn, "postgresql://app:p%40ss@db/app")

    def test_a_config_file_that_is_not_utf8(self):
        with ProjectDir() as root:
            (root / "pyproject.toml").write_bytes(b"[tool.tddkit]\nschema_version = '\xff'\n")
            with self.assertRaises(ConfigError) as caught:
                load_settings(environ={}, start=root)
        self.assertIn("pyproject.toml: cannot parse", str(caught.exception))


class TableTests(unittest.TestCase):
    """[tool.tddkit.gate] and .targets have fixed keys; .thresholds holds any metric name; all values checked."""

    def error(self, pyproject="", setup_cfg="") -> str:
        with ProjectDir(pyproject, setup_cfg) as root, self.assertRaises(ConfigError) as caught:
            load_settings(environ={}, start=root)
        return str(caught.exception)

    def test_unknown_gate_and_target_keys_suggest_the_closest(self):
        self.assertRegex(self.error("[tool.tddkit.gate]\nmax_tst_ms = 5\n"),
                         r"pyproject\.toml \[tool\.tddkit\.gate\]: unknown key 'max_tst_ms'; did you mean "
                         r"'max_test_ms'\?$")
        self.assertIn("[tool.tddkit.targets]: unknown key 'fixture'; did you mean 'fixture_setup'?",
                      self.error("[tool.tddkit.targets]\nfixture = 5\n"))
        self.assertIn("setup.cfg [tddkit.gate]: unknown key 'zzz'; known keys: average_test_ms, fixture_setup_ms, "
                      "max_queries_per_test, max_test_ms, median_vs_history, query_count_increase, suite_s",
                      self.error(setup_cfg="[tddkit.gate]\nzzz = 1\n"))

    def test_table_values_must_be_finite_numbers(self):
        self.assertIn("[tool.tddkit.gate]: 'suite_s' has a bad value 'fast': expected a finite number > 0",
                      self.error('[tool.tddkit.gate]\nsuite_s = "fast"\n'))
        self.assertIn("[tool.tddkit.targets]: 'cleanup' has a bad value inf",
                      self.error("[tool.tddkit.targets]\ncleanup = inf\n"))
        self.assertIn("[tool.tddkit.thresholds]: 'rows_per_s' has a bad value nan: expected a finite number",
                      self.error("[tool.tddkit.thresholds]\nrows_per_s = nan\n"))
        self.assertIn("setting 'gate' has a bad value 5: expected a table",
                      self.error("[tool.tddkit]\ngate = 5\n"))

    def test_the_statement_gate_keys_are_off_unless_set_and_take_whole_numbers_from_0(self):
        self.assertEqual(Settings().gate, DEFAULT_GATE)
        with ProjectDir("[tool.tddkit.gate]\nmax_queries_per_test = 20\nquery_count_increase = 0\n",
                        "[tddkit.gate]\nquery_count_increase = 3\n") as root:
            gate = load_settings(environ={}, start=root).gate
        self.assertEqual(gate, {**DEFAULT_GATE, "max_queries_per_test": 20, "query_count_increase": 0})
        self.assertIn("[tool.tddkit.gate]: 'query_count_increase' has a bad value -1: expected a whole number >= 0",
                      self.error("[tool.tddkit.gate]\nquery_count_increase = -1\n"))
        self.assertIn("[tool.tddkit.gate]: 'max_queries_per_test' has a bad value 2.5: expected a whole number >= 0",
                      self.error("[tool.tddkit.gate]\nmax_queries_per_test = 2.5\n"))

    def test_repeated_query_threshold(self):
        self.assertEqual(Settings().repeated_query_threshold, 10)
        with ProjectDir("[tool.tddkit]\nrepeated_query_threshold = 25\n") as root:
            self.assertEqual(load_settings(environ={}, start=root).repeated_query_threshold, 25)
            self.assertEqual(load_settings(environ={"TDDKIT_REPEATED_QUERY_THRESHOLD": "0"},
                                           start=root).repeated_query_threshold, 0)
        self.assertIn("'repeated_query_threshold' has a bad value 'many': expected a whole number >= 0",
                      self.error("[tool.tddkit]\nrepeated_query_threshold = \"many\"\n"))

    def test_thresholds_take_any_metric_name(self):
        with ProjectDir("[tool.tddkit.thresholds]\nrows_per_s = 2000\n",
                        "[tddkit.thresholds]\nqueryCount = 3\n") as root:
            thresholds = load_settings(environ={}, start=root).thresholds
        self.assertEqual(thresholds, {**DEFAULT_THRESHOLDS, "rows_per_s": 2000.0, "queryCount": 3.0})

    def test_tables_merge_key_by_key_across_files(self):
        with ProjectDir("[tool.tddkit.gate]\nsuite_s = 60\n", "[tddkit.gate]\nmax_test_ms = 50\nsuite_s = 1\n") as root:
            gate = load_settings(environ={}, start=root).gate
        self.assertEqual(gate, {**DEFAULT_GATE, "max_test_ms": 50.0, "suite_s": 60.0})


class EmbeddedPoolLimitTests(unittest.TestCase):
    def test_the_limit_is_below_the_servers_max_connections(self):
        self.assertEqual(int(TEST_SERVER_SETTINGS["max_connections"]), EMBEDDED_MAX_CONNECTIONS)
        self.assertLess(EMBEDDED_POOL_LIMIT, EMBEDDED_MAX_CONNECTIONS)

    def test_a_pool_larger_than_the_embedded_server_allows(self):
        with ProjectDir("[tool.tddkit]\npool_min_size = 250\npool_max_size = 250\n") as root:  # issue 16
            with self.assertRaises(ConfigError) as caught:
                load_settings(environ={}, start=root)
            message = str(caught.exception)
            self.assertIn("pyproject.toml [tool.tddkit]: pool_max_size = 250 is more than the embedded server allows "
                          f"(max_connections = {EMBEDDED_MAX_CONNECTIONS}, at most {EMBEDDED_POOL_LIMIT} for the pool)",
                          message)
            self.assertIn("--dsn", message)
            with_dsn = load_settings(environ={"DATABASE_URL": "postgresql://h/db"}, start=root)
            self.assertEqual(with_dsn.pool_max_size, 250)  # a server of one's own sets its own limit
            with self.assertRaises(ConfigError) as caught:
                load_settings(environ={"TDDKIT_POOL_MAX_SIZE": str(EMBEDDED_POOL_LIMIT + 1),
                                       "TDDKIT_POOL_MIN_SIZE": "0"}, start=root)
            self.assertIn("environment variable TDDKIT_POOL_MAX_SIZE: pool_max_size", str(caught.exception))

    def test_inconsistent_pool_sizes_name_the_source(self):
        with ProjectDir("[tool.tddkit]\npool_max_size = 1\n") as root, self.assertRaises(ConfigError) as caught:
            load_settings(environ={}, start=root)
        self.assertIn("pyproject.toml [tool.tddkit]: pool_min_size (2) is larger than pool_max_size (1)",
                      str(caught.exception))


class ConfigSearchTests(unittest.TestCase):
    """The config file is found from the run's targets upward, then from the current directory (like pytest)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.base = Path(self.tmp.name).resolve()
        self.elsewhere = self.make("elsewhere")

    def make(self, relative: str, **files: str) -> Path:
        directory = self.base / relative
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (directory / name.replace("_", ".")).write_text(textwrap.dedent(content))
        return directory

    def test_found_from_the_targets_not_the_current_directory(self):
        project = self.make("project", pyproject_toml='[tool.tddkit]\nschema = ["db/schema.sql"]\n')
        tests = self.make("project/tests")
        (tests / "test_a.py").write_text("")
        for targets in ([str(tests)], [str(tests / "test_a.py")], [str(tests), str(project / "tests")]):
            with self.subTest(targets=targets):
                self.assertEqual(find_config(targets, start=self.elsewhere), project / "pyproject.toml")
        settings = load_settings(environ={}, start=self.elsewhere, targets=[str(tests)])
        self.assertEqual(settings.schema, ["db/schema.sql"])
        self.assertEqual(settings.resolve("db/schema.sql"), project / "db" / "schema.sql")
        self.assertEqual(settings.config_file, str(project / "pyproject.toml"))
        self.assertEqual(describe_config(settings), f"config: {project / 'pyproject.toml'}")

    def test_relative_targets_resolve_against_the_current_directory(self):
        project = self.make("project", pyproject_toml="[tool.tddkit]\n")
        self.make("project/tests")
        cwd = os.getcwd()
        os.chdir(project)
        self.addCleanup(os.chdir, cwd)
        self.assertEqual(find_config(["tests"], start=self.elsewhere), project / "pyproject.toml")

    def test_common_ancestor_of_targets_in_two_packages(self):
        top = self.make("mono", setup_cfg="[tddkit]\npool_max_size = 4\n")
        first = self.make("mono/a/tests")
        second = self.make("mono/b/tests")
        self.make("mono/a", pyproject_toml="[tool.tddkit]\n")  # nearer to one target only: not their ancestor
        self.assertEqual(find_config([str(first), str(second)], start=self.elsewhere), top / "setup.cfg")
        self.assertEqual(load_settings(environ={}, start=self.elsewhere, targets=[str(first), str(second)])
                         .pool_max_size, 4)

    def test_a_file_without_tddkit_settings_does_not_stop_the_search(self):
        top = self.make("repo", pyproject_toml="[tool.tddkit]\npool_max_size = 6\n")
        package = self.make("repo/services/api", pyproject_toml="[project]\nname = 'api'\n",
                            setup_cfg="[metadata]\nname = api\n")
        tests = self.make("repo/services/api/tests")
        self.assertEqual(find_config([str(tests)], start=self.elsewhere), top / "pyproject.toml")
        self.assertEqual(load_settings(environ={}, start=self.elsewhere, targets=[str(tests)]).pool_max_size, 6)
        self.assertEqual(find_config([str(package)], start=self.elsewhere), top / "pyproject.toml")

    def test_falls_back_to_the_current_directory(self):
        here = self.make("here", setup_cfg="[tddkit]\nschema = s.sql\n")
        tests = self.make("outside/tests")
        for targets in ([str(tests)], ["tests.test_config"], []):
            with self.subTest(targets=targets):
                self.assertEqual(find_config(targets, start=here), here / "setup.cfg")
        settings = load_settings(environ={}, start=here, targets=["tests.test_config"])
        self.assertEqual((settings.schema, settings.config_file), (["s.sql"], str(here / "setup.cfg")))

    def test_both_files_of_the_project_are_read_and_named(self):
        project = self.make("project", pyproject_toml=PYPROJECT, setup_cfg=SETUP_CFG)
        settings = load_settings(environ={}, start=self.elsewhere, targets=[str(project)])
        self.assertEqual((settings.pool_max_size, settings.pool_min_size), (7, 1))
        self.assertEqual(describe_config(settings), f"config: {project / 'pyproject.toml'}, {project / 'setup.cfg'}")

    def test_no_config_file_found(self):
        bare = self.make("bare", setup_cfg="[metadata]\nname = bare\n")
        tests = self.make("bare/tests")
        self.assertIsNone(find_config([str(tests)], start=self.elsewhere))
        settings = load_settings(environ={}, start=self.elsewhere, targets=[str(tests)])
        self.assertIsNone(settings.config_file)
        self.assertEqual(settings.root, str(bare))  # relative paths still resolve against the project
        self.assertEqual(describe_config(settings), "no config file found: no schema")
        with_env = load_settings(environ={"TDDKIT_SCHEMA": "s.sql"}, start=self.elsewhere)
        self.assertEqual(describe_config(with_env), "no config file found: schema from the environment or command line")


if __name__ == "__main__":
    unittest.main()
