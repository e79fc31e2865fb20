"""What ``watch`` watches and what it learns: the watched tree, the ``watch_ignore`` setting, the import graph."""

import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

import tddkit
from tddkit.config.settings import load_settings
from tddkit.errors import ConfigError
from tddkit.watch.import_graph import ImportRecorder
from tddkit.watch.tree import WatchedTree


def make_tree(test: unittest.TestCase, files: dict) -> Path:
    tmp = tempfile.TemporaryDirectory(prefix="tddkit-tree-")
    test.addCleanup(tmp.cleanup)
    root = Path(tmp.name).resolve()
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


class WatchedTreeTests(unittest.TestCase):
    def setUp(self):
        self.root = make_tree(self, {name: "" for name in (
            "app/models.py", "app/api/views.py", "docs/index.py", "venv/lib/site.py", ".venv/x.py",
            "env/pyvenv.cfg", "env/lib/pkg.py", "node_modules/m/x.py", ".git/hooks/x.py", ".tox/py/x.py",
            "app/__pycache__/models.py", "build/lib/app.py", "app/generated/schema_pb2.py", "app/api/x.gen.py")})
        self.tree = WatchedTree([self.root], ignore=["build", "app/generated", "*.gen.py"])

    def test_directories_skip_the_usual_ones_virtualenvs_and_the_ignore_globs(self):
        found = sorted(str(Path(d).relative_to(self.root)) for d in self.tree.directories())
        self.assertEqual(found, [".", "app", "app/api", "docs"])

    def test_files_in_ignored_places_are_ignored(self):
        for name in ("venv/lib/site.py", ".venv/x.py", "env/lib/pkg.py", "node_modules/m/x.py", ".git/hooks/x.py",
                     ".tox/py/x.py", "app/__pycache__/models.py", "build/lib/app.py", "app/generated/schema_pb2.py",
                     "app/api/x.gen.py"):
            with self.subTest(name=name):
                self.assertTrue(self.tree.ignores(str(self.root / name)))
                self.assertFalse(self.tree.is_project_file(str(self.root / name)))
        for name in ("app/models.py", "app/api/views.py", "docs/index.py"):
            with self.subTest(name=name):
                self.assertFalse(self.tree.ignores(str(self.root / name)))
                self.assertTrue(self.tree.is_project_file(str(self.root / name)))

    def test_files_outside_the_roots_and_tddkit_itself_are_not_the_projects(self):
        self.assertTrue(self.tree.ignores("/usr/lib/python3/os.py"))
        own = WatchedTree([Path(tddkit.__file__).resolve().parent.parent])
        self.assertFalse(own.is_project_file(str(Path(tddkit.__file__).resolve())))
        self.assertTrue(own.is_project_file(str(Path(__file__).resolve())))

    def test_nested_roots_are_watched_once(self):
        tree = WatchedTree([self.root, self.root / "app"])
        self.assertEqual(tree.roots, [self.root])


class WatchIgnoreSettingTests(unittest.TestCase):
    def test_read_from_the_config_file_and_the_environment(self):
        root = make_tree(self, {"pyproject.toml": '[tool.tddkit]\nwatch_ignore = ["build", "*.gen.py"]\n'})
        self.assertEqual(load_settings(environ={}, start=root).watch_ignore, ["build", "*.gen.py"])
        env = load_settings(environ={"TDDKIT_WATCH_IGNORE": "dist, tmp"}, start=root)
        self.assertEqual(env.watch_ignore, ["dist", "tmp"])
        self.assertEqual(load_settings(environ={}, start=make_tree(self, {})).watch_ignore, [])

    def test_a_bad_value_is_one_line_naming_the_key(self):
        root = make_tree(self, {"pyproject.toml": "[tool.tddkit]\nwatch_ignore = 5\n"})
        with self.assertRaises(ConfigError) as caught:
            load_settings(environ={}, start=root)
        self.assertIn("setting 'watch_ignore' has a bad value 5: expected a list of strings", str(caught.exception))


class ImportRecorderTests(unittest.TestCase):
    """A throwaway package imported under the recorder, as watch's child imports the project."""

    FILES = {
        "wgraph/__init__.py": "",
        "wgraph/util.py": "def one():\n    return 1\n",
        "wgraph/models.py": "from . import util\n\nclass Model:\n    pass\n",
        "wgraph/lazy.py": "VALUE = 2\n",
        "wgraph_test_models.py": "from wgraph.models import Model\n",
        "wgraph_test_plain.py": "import os\nimport unittest\n",
        "wgraph_test_lazy.py": """
            import importlib

            def load():
                return importlib.import_module("wgraph.lazy").VALUE
            """,
        "wgraph_test_cached.py": "import wgraph.util\n",
    }

    def setUp(self):
        self.root = make_tree(self, self.FILES)
        sys.path.insert(0, str(self.root))
        self.addCleanup(sys.path.remove, str(self.root))
        self.addCleanup(self._forget)
        self.tree = WatchedTree([self.root])

    def _forget(self):
        for name in [n for n in sys.modules if n.startswith("wgraph")]:
            del sys.modules[name]

    def files(self, recorder: ImportRecorder, module: str) -> list:
        return [str(Path(p).relative_to(self.root)) for p in recorder.depends_on(module, self.tree.is_project_file)]

    def test_each_test_module_depends_on_what_it_imports_directly_or_not(self):
        recorder = ImportRecorder().install()
        try:
            # the order is the test: wgraph_test_cached imports what an earlier module already imported
            # isort: off
            import wgraph_test_models  # noqa: F401
            import wgraph_test_plain  # noqa: F401
            import wgraph_test_lazy
            import wgraph_test_cached  # noqa: F401  (wgraph.util is already imported: still an edge)
            # isort: on
            self.assertEqual(wgraph_test_lazy.load(), 2)
        finally:
            recorder.uninstall()
        self.assertEqual(self.files(recorder, "wgraph_test_models"),
                         ["wgraph/__init__.py", "wgraph/models.py", "wgraph/util.py", "wgraph_test_models.py"])
        self.assertEqual(self.files(recorder, "wgraph_test_plain"), ["wgraph_test_plain.py"])
        self.assertEqual(self.files(recorder, "wgraph_test_lazy"),
                         ["wgraph/__init__.py", "wgraph/lazy.py", "wgraph_test_lazy.py"])
        self.assertEqual(self.files(recorder, "wgraph_test_cached"),
                         ["wgraph/__init__.py", "wgraph/util.py", "wgraph_test_cached.py"])

    def test_uninstall_puts_the_import_functions_back(self):
        import builtins
        import importlib

        before = (builtins.__import__, importlib.import_module)
        ImportRecorder().install().uninstall()
        self.assertEqual((builtins.__import__, importlib.import_module), before)
