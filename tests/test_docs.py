"""Every code example of README.md and docs/ works: one test per example (see tests/docs_examples.py).

The test modules run in child processes on this suite's server, once for all the pages that share a config; a
wrong example, an option that no longer exists or a config key tddkit refuses fails here, naming the page and line.
"""

import importlib.util
import os
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tests.docs_examples import (
    FILE_LANGUAGES,
    Example,
    Project,
    check_ini,
    check_sh,
    check_toml,
    examples,
    group_of,
    groups,
    pages,
    pytest_options,
    slug,
)

OPTIONAL = {name: importlib.util.find_spec(name) is not None for name in ("sqlalchemy", "alembic")}


class DocExamples(unittest.TestCase):
    """The examples, one test each (added below, named after their page and line)."""

    projects: dict[str, Project] = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="tddkit-docs-")
        cls.projects = {}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def project(self, page: Path) -> Project:
        """The project of the pages that share ``page``'s config. On first use every project is written and run,
        side by side (their child processes mostly wait on imports and the server)."""
        if not self.projects:
            server_dsn = tddkit.get_session().server_dsn
            projects = {group: Project(pages, Path(self.tmp.name) / slug(pages[0]), server_dsn)
                        for group, pages in groups().items()}
            with ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as pool:
                list(pool.map(Project.run, projects.values()))
            type(self).projects = projects
        return self.projects[group_of(page)]

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
        elif example.title:  # a file of the project (code, schema, config): it works when the page's tests pass
            self.assertIn(example.lang, FILE_LANGUAGES, f"{example.where}: a {example.lang} block cannot be a file")
            project = self.project(example.page)
            results = project.run()
            modules = {e.module for e in examples(example.page) if e.module}
            self.assertTrue(modules, f"{example.where}: the page has no test module that uses this file")
            failed = {module: results[module].problems for module in modules
                      if results[module].problems or not results[module].tests}
            self.assertEqual(failed, {}, f"{example.where}: the page's tests failed\n{project.output}")
        elif example.lang == "toml":
            with tempfile.TemporaryDirectory() as tmp:
                check_toml(example, Path(tmp))
        elif example.lang in ("ini", "cfg"):
            check_ini(example)
        elif example.lang == "sh":
            self.assertGreater(check_sh(example, pytest_options()), 0,
                               f"{example.where}: no command in the block is one that can be checked")
        else:
            self.fail(f"{example.where}: a {example.lang} block needs a title (the path of the file it is)")

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
