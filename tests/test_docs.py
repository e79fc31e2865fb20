"""Every code example of README.md and docs/ works: one test per example (see tests/docs_examples.py).

The test modules of a page run in child processes on this suite's server, once per page; a wrong example, an
option that no longer exists or a config key tddkit refuses fails here, naming the page and line.
"""

import importlib.util
import sys
import tempfile
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tests.docs_examples import (
    Example,
    PageProject,
    check_ini,
    check_sh,
    check_toml,
    examples,
    pages,
    pytest_options,
    slug,
)

OPTIONAL = {name: importlib.util.find_spec(name) is not None for name in ("sqlalchemy", "alembic")}


class DocExamples(unittest.TestCase):
    """The examples, one test each (added below, named after their page and line)."""

    projects: dict[Path, PageProject] = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="tddkit-docs-")
        cls.projects = {}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def project(self, page: Path) -> PageProject:
        if page not in self.projects:
            self.projects[page] = PageProject(page, Path(self.tmp.name) / slug(page),
                                              tddkit.get_session().server_dsn)
        return self.projects[page]

    def check(self, example: Example) -> None:
        page_text = example.page.read_text()
        missing = [name for name, present in OPTIONAL.items() if not present and name in page_text]
        if missing and example.lang in ("python", "sql"):
            self.skipTest(f"the page's examples need {', '.join(missing)}, which is not installed")
        if example.module:
            project = self.project(example.page)
            outcome = project.run()[example.module]
            self.assertTrue(outcome.tests, f"{example.where}: the example ran no test\n{project.output}")
            self.assertEqual(outcome.problems, [], f"{example.where}: the example failed\n{project.output}")
        elif example.lang == "toml":
            with tempfile.TemporaryDirectory() as tmp:
                check_toml(example, Path(tmp))
        elif example.lang in ("ini", "cfg"):
            check_ini(example)
        elif example.lang == "sh":
            self.assertGreater(check_sh(example, pytest_options()), 0,
                               f"{example.where}: no command in the block is one that can be checked")
        else:  # a file of the project (application code, a schema): it works when the page's tests pass
            self.assertIsNotNone(example.title, f"{example.where}: a {example.lang} block needs a title (its path)")
            project = self.project(example.page)
            results = project.run()
            self.assertTrue(results, f"{example.where}: the page has no test module that uses this file")
            failed = {module: outcome.problems for module, outcome in results.items()
                      if outcome.problems or not outcome.tests}
            self.assertEqual(failed, {}, f"{example.where}: the page's tests failed\n{project.output}")


def _add_tests() -> None:
    for page in pages():
        for example in examples(page):
            def test(self, example=example):
                self.check(example)
            test.__doc__ = f"{example.where} ({example.lang}{', ' + example.title if example.title else ''})"
            setattr(DocExamples, f"test_{slug(page)}_{example.line}", test)


_add_tests()

if __name__ == "__main__":
    unittest.main()
