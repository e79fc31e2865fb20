"""The wheel built from this checkout: its files, entry points and metadata, and the versions it declares."""

import configparser
import email
import re
import sys
import tomllib
import unittest
import zipfile
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tddkit.bench.compare import BENCH_SCHEMA
from tddkit.config.settings import load_settings
from tddkit.output import tddkit_version
from tests.support import ROOT, built_wheel


class WheelTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with zipfile.ZipFile(built_wheel()) as wheel:
            cls.names = set(wheel.namelist())
            info = next(n for n in cls.names if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
            cls.metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
            cls.entry_points = configparser.ConfigParser()
            cls.entry_points.read_string(wheel.read(f"{info}/entry_points.txt").decode())

    def test_every_module_and_data_file_ships_and_nothing_else(self):
        source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tddkit").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts}
        self.assertIn("tddkit/py.typed", source)
        self.assertIn("tddkit/data/bench_schema.sql", source)
        shipped = {n for n in self.names if ".dist-info/" not in n}
        self.assertEqual(shipped, source)

    def test_the_examples_run_on_the_schema_the_package_ships_for_the_benchmark(self):
        settings = load_settings(environ={}, targets=[str(ROOT / "examples")])
        self.assertEqual([Path(settings.resolve(f)).resolve() for f in settings.schema], [Path(str(BENCH_SCHEMA))])
        self.assertIn("tddkit/data/bench_schema.sql", self.names)
        self.assertEqual(list((ROOT / "examples").rglob("*.sql")), [], "no copy of the schema in examples/")

    def test_entry_points(self):
        self.assertEqual(dict(self.entry_points["console_scripts"]), {"tddkit": "tddkit.cli.main:main"})
        self.assertEqual(dict(self.entry_points["pytest11"]), {"tddkit": "tddkit.integrations.pytest_plugin"})

    def test_one_version_string(self):
        self.assertEqual(self.metadata["Version"], tddkit.__version__)
        self.assertEqual(tddkit_version(), tddkit.__version__)

    def test_license_and_license_file(self):
        self.assertEqual(self.metadata["License-Expression"], "MIT")
        self.assertTrue(any(n.endswith(".dist-info/licenses/LICENSE") for n in self.names))
        self.assertTrue((ROOT / "LICENSE").read_text().startswith("MIT License"))

    def test_dependencies_and_extras(self):
        requires = self.metadata.get_all("Requires-Dist")
        self.assertIn("psycopg[binary,pool]>=3.1", requires)
        self.assertFalse(any(r.startswith("tomli") for r in requires), requires)
        extras = {"alembic", "docs", "pytest", "server", "sqlalchemy", "watch"}
        self.assertEqual(set(self.metadata.get_all("Provides-Extra")), extras)


class SupportedVersionsTests(unittest.TestCase):
    """The declared Python versions: a contiguous range from requires-python, each a tox environment; tox's
    default run covers both ends."""

    def test_classifiers_requires_python_and_tox_agree(self):
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        declared = sorted(int(c.rsplit(".", 1)[1]) for c in project["classifiers"]
                          if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
        self.assertEqual(project["requires-python"], f">=3.{declared[0]}")
        self.assertEqual(declared, list(range(declared[0], declared[-1] + 1)), "no minor version left out")
        tox = configparser.ConfigParser()
        tox.read(ROOT / "tox.ini")
        self.assertEqual(sorted(int(m) for m in re.findall(r"\bpy3(\d+)\b", tox["tox"]["env_list"])),
                         [declared[0], declared[-1]], "tox runs the oldest and the newest declared version")
        self.assertEqual(sorted(int(m) for m in re.findall(r"^testenv:py3(\d+)$", "\n".join(tox.sections()), re.M)),
                         declared, "each declared version has its tox environment")


if __name__ == "__main__":
    unittest.main()
