"""The public API: every exported name is what it says, and ``import tddkit`` alone stays cheap."""

import importlib
import inspect
import pkgutil
import subprocess
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import tddkit
from tddkit.isolation.connection import GuardedConnection
from tests.support import ROOT, child_env


class PublicApiTests(unittest.TestCase):
    def test_every_exported_name_is_an_object_not_a_module_even_after_importing_everything(self):
        for info in pkgutil.walk_packages(tddkit.__path__, "tddkit."):
            if "pytest" not in info.name:
                importlib.import_module(info.name)
        self.assertEqual(tddkit.__all__, sorted(tddkit.__all__))
        for name in tddkit.__all__:
            with self.subTest(name=name):
                self.assertFalse(inspect.ismodule(getattr(tddkit, name)), f"tddkit.{name} is a module")

    def test_import_tddkit_imports_neither_psycopg_nor_the_test_machinery(self):
        done = subprocess.run([sys.executable, "-c", "import sys, tddkit; print(' '.join(sorted(sys.modules)))"],
                              cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
        loaded = done.stdout.split()
        self.assertNotIn("psycopg", loaded)
        self.assertEqual([m for m in loaded if m.startswith("tddkit.")], ["tddkit._version"])  # one constant


class SurfaceTests(tddkit.TDDTestCase):
    """What a test gets beyond psycopg's connection, and what a session offers: only what the README documents."""

    def test_the_connection_adds_only_capture_queries_to_psycopgs_names(self):
        plain = psycopg.Connection.connect(self.dsn)
        self.addCleanup(plain.close)
        guarded = GuardedConnection.connect(self.dsn)
        self.addCleanup(guarded.close)
        psycopg_names = set(dir(plain))
        self.assertEqual({name for name in dir(self.conn) if not name.startswith("_")} - psycopg_names,
                         {"capture_queries"})
        tddkit_defines = {name for cls in type(self.conn).__mro__ if cls.__module__.startswith("tddkit.")
                          for name in vars(cls)}
        self.assertEqual(tddkit_defines - psycopg_names, {"capture_queries"}, "the rest overrides psycopg's methods")
        self.assertEqual(set(vars(guarded)) - set(vars(plain)), {"_tddkit"}, "tddkit's state is in one attribute")
        self.assertNotIn("_tddkit", psycopg_names)

    def test_a_session_offers_its_dsn_its_server_dsn_and_its_settings(self):
        session = tddkit.get_session()
        self.assertEqual({name for name in dir(session) if not name.startswith("_")}, {"dsn", "server_dsn", "settings"})


if __name__ == "__main__":
    unittest.main()
