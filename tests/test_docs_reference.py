"""The reference in docs/ is complete and true: checked against what the code itself prints and writes.

Every option ``python -m tddkit run|watch|bench|server --help`` prints, every option, fixture and marker pytest
lists for the plugin, every setting and every ``TDDKIT_*`` variable the package reads must be in the generated
reference (docs/hooks/reference.py), so a new option or setting without documentation fails here. The JSON
reference is compared with a document a real run wrote, both ways; README's headline table with the tables the
benchmarks wrote.
"""

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tddkit.config import settings as settings_module
from tests.support import ROOT, child_env, drop_project_templates, run_cli

DOCS = ROOT / "docs"


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = load(DOCS / "hooks" / "reference.py", "docs_reference")
headline = load(ROOT / "benchmarks" / "headline.py", "benchmarks_headline")


def documented(markdown: str) -> set[str]:
    """Every name written as code (between backticks) in ``markdown``."""
    return set(re.findall(r"`([^`]+)`", markdown))


def pytest_output(*args: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=tmp,
                              env=child_env(), capture_output=True, text=True, timeout=120)
    return done.stdout


class GeneratedReferenceTests(unittest.TestCase):
    def test_every_option_of_every_command_is_in_the_cli_reference(self):
        for command in ("run", "watch", "bench", "server"):
            with self.subTest(command=command):
                done = run_cli([command, "--help"])
                self.assertEqual(done.returncode, 0, done.stderr)
                heads = [re.split(r"\s{2,}", line.strip())[0] for line in done.stdout.split("options:", 1)[1]
                         .splitlines() if line.startswith("  -")]
                options = {name for head in heads for name in re.findall(r"--?[a-z][\w-]*", head)} - {"-h", "--help"}
                self.assertEqual(bool(options), command != "server", options)
                names = documented(reference.cli_reference(command).split("\n\n|", 1)[1])
                self.assertEqual(options - names, set(), f"options of {command} missing from docs/reference/cli.md")

    def test_the_positional_arguments_are_in_the_cli_reference(self):
        self.assertIn("`START_DIR\\|module\\|file`", reference.cli_reference("run"))
        self.assertIn("one of start, stop, status, url", reference.cli_reference("server"))

    def test_every_pytest_option_fixture_and_marker_is_in_the_reference(self):
        options = set(re.findall(r"--tddkit-[\w-]+", pytest_output("--help")))
        self.assertEqual(len(options), 8, options)
        self.assertEqual(options - documented(reference.pytest_options_reference()), set())
        fixtures = set(re.findall(r"^(tddkit_\w+)", pytest_output("--fixtures"), re.MULTILINE))
        self.assertIn("tddkit_conn", fixtures)
        self.assertEqual(fixtures - documented(reference.fixtures_reference()), set())
        markers = set(re.findall(r"@pytest\.mark\.(tddkit\w*)", pytest_output("--markers")))
        self.assertEqual(markers, {"tddkit_resources"})
        self.assertIn("`@pytest.mark.tddkit_resources(*names)`", reference.markers_reference())

    def test_every_setting_and_table_key_is_in_the_configuration_reference(self):
        names = documented(reference.settings_reference())
        self.assertEqual(set(settings_module.FIELDS) - names, set())
        tables = documented(reference.tables_reference())
        keys = {*settings_module.DEFAULT_TARGETS, *settings_module.DEFAULT_THRESHOLDS,
                *settings_module.DEFAULT_GATE, *settings_module.OPTIONAL_GATE}
        self.assertEqual(keys - tables, set())

    def test_every_variable_the_package_reads_is_in_the_environment_reference(self):
        read = {name for path in (ROOT / "tddkit").rglob("*.py")
                for name in re.findall(r"\bTDDKIT_[A-Z_]+[A-Z]\b", path.read_text())}
        self.assertIn("TDDKIT_RUN_DIR", read)
        environment = documented(reference.environment_reference())
        self.assertEqual(read - environment, set())
        for variable in ("TDDKIT_STATEMENT_TIMEOUT", "TDDKIT_DATABASE_URL", "TDDKIT_DSN", "DATABASE_URL"):
            self.assertIn(variable, environment)
        self.assertFalse({"TDDKIT_GATE", "TDDKIT_TARGETS"} & environment, "tables have no variable")

    def test_the_exit_codes_are_the_constants(self):
        from tddkit import exit_codes

        codes = {value for name, value in vars(exit_codes).items() if name.startswith("EXIT_")}
        self.assertEqual({code for _, code, _ in reference.exit_codes()}, codes)

    def test_every_reference_page_asks_for_its_generated_parts(self):
        pages = "".join(path.read_text() for path in (DOCS / "reference").glob("*.md"))
        asked = set(reference.MARKER.findall(pages))
        self.assertEqual(asked, set(reference.PARTS))


#: A test module using every instrument, so that every key of the JSON document has a value.
EVERYTHING = '''
import tddkit

KEPT = []


class Everything(tddkit.TDDTestCase):
    @classmethod
    def setUpTestData(cls):
        cls.record_metric("class_metric", 1.0)

    @tddkit.resources("docs-resource")
    def test_instruments(self):
        self.record_metric("render_ms", 5.0, page="home")
        self.memory_snapshot("snap")
        self.create_temp_table("user_table")
        for n in range(11):
            self.conn.execute("SELECT %s", (n,))

    def test_keeps_memory(self):
        KEPT.append(bytearray(8 * 2**20))


class Second(tddkit.TDDTestCase):
    def test_again(self):
        self.create_temp_table("user_table")
'''


class JsonReferenceTests(unittest.TestCase):
    """docs/reference/output.md against the documents of two real runs: one serial (--trace-memory, alerts, N+1,
    temp tables...), one --parallel."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="tddkit-json-")
        root = Path(cls.tmp.name)
        (root / "pyproject.toml").write_text('[tool.tddkit]\nschema = ["schema.sql"]\nmemory_warning_mb = 1\n'
                                             '[tool.tddkit.thresholds]\nrender_ms = 1\n')
        (root / "schema.sql").write_text("CREATE TABLE t (id int);\n")
        (root / "test_everything.py").write_text(EVERYTHING)
        server_dsn = tddkit.get_session().server_dsn
        cls.documents = []
        try:
            for extra in (["--trace-memory"], ["--parallel", "2"]):  # one serial run, one parallel
                done = run_cli(["run", "test_everything.py", "--no-report", *extra, "--json", "out.json", "--dsn",
                                server_dsn], cwd=root)
                assert done.returncode == 0, done.stdout + done.stderr
                cls.documents.append(json.loads((root / "out.json").read_text()))
        finally:
            drop_project_templates(server_dsn, root)
        cls.document, cls.parallel = cls.documents

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def written(self) -> dict[str, set[str]]:
        """{section: keys} of the real document: ``tests[]``, ``metrics.<metric>``, ``tests[].custom[]``..."""
        found: dict[str, set[str]] = {}

        def walk(value, section: str) -> None:
            if isinstance(value, list):
                for item in value:
                    walk(item, section + "[]")
            elif isinstance(value, dict) and section != "tests[].custom[].metadata":
                found.setdefault(section, set()).update(value)
                for key, item in value.items():
                    if section in ("", "metrics"):
                        child = "metrics.<metric>" if section == "metrics" else key
                    else:
                        child = f"{section}.{key}"
                    walk(item, child)

        for document in self.documents:
            walk(document, "")
        found.pop("metrics")
        found.pop("classes[].custom[].metadata", None)
        return found

    def documented(self) -> dict[str, set[str]]:
        text = (DOCS / "reference" / "output.md").read_text()
        part = text.split("## JSON", 1)[1].split("\n## ", 1)[0]
        sections: dict[str, set[str]] = {}
        for heading, body in re.findall(r"^### ([^\n]+)\n(.*?)(?=^### |\Z)", part, re.MULTILINE | re.DOTALL):
            name = "" if heading == "Top level" else heading.strip("`")
            sections[name] = set(re.findall(r"^\| `([^`]+)` \|", body, re.MULTILINE))
        return sections

    def test_every_key_written_is_documented_and_every_documented_key_written(self):
        written, documented = self.written(), self.documented()
        self.assertEqual(set(written), set(documented), "the sections of the document")
        for section, keys in written.items():
            with self.subTest(section=section or "top level"):
                self.assertEqual(keys, documented[section])

    def test_the_run_filled_what_the_reference_describes(self):
        self.assertTrue(self.document["alerts"] and self.document["repeated_statements"])
        self.assertTrue(self.document["schema_cache"] and self.parallel["parallel"])
        self.assertTrue(any(test["allocations"] for test in self.document["tests"]))
        self.assertTrue(all(test["memory_snapshots"] for test in self.document["tests"]
                            if test["test_id"].endswith("test_instruments")))


class ReadmeTests(unittest.TestCase):
    def test_the_headline_table_is_the_one_the_benchmarks_wrote(self):
        readme = (ROOT / "README.md").read_text()
        self.assertEqual(readme, headline.rewritten(readme),
                         "README's headline table differs from docs/measured/: run python benchmarks/headline.py")

    def test_readme_is_short_and_ci_runs_its_test_command(self):
        readme = (ROOT / "README.md").read_text()
        self.assertLessEqual(len(readme.splitlines()), 250)
        first = re.search(r"```sh\n(.*?)```", readme, re.DOTALL).group(1).splitlines()
        self.assertEqual(first, ["pip install -e '.[server,sqlalchemy]' && python -m tddkit run examples",
                                 "pip install tox && tox"])
        self.assertIn(f"\n{first[1]}\n", (ROOT / ".ci" / "run").read_text())


if __name__ == "__main__":
    unittest.main()
