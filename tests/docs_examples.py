"""The code examples of README.md and docs/: found, written into a project per config, and checked.

Every fenced block is an example, by its language:

- ``python``: a whole file. With ``title="path.py"`` it is that file of the page's project (application code,
  a schema hook, a test module when its name starts with ``test_``); without a title, a test module of its own.
  The test modules of the pages that share a config run in one child process each way: those of unittest classes with
  ``python -m tddkit run``, those of test functions with pytest, on the suite's server (``--dsn``); each must run
  at least one test, and every test must pass.
- ``toml``: with ``title="pyproject.toml"`` the page project's config; without, a fragment that must load as
  tddkit settings (unknown keys and bad values fail).
- ``sql``, ``ini``, ``cfg``, ``csv`` with a title: files of the project (a schema, alembic.ini, seed data).
- ``sh``: each ``python -m tddkit`` command must parse with tddkit's own argparse parser, each ``pytest``
  command may use only options the plugin declares, each ``pip install`` only extras pyproject.toml declares
  and each ``tox -e`` only environments tox.ini declares.
- ``text`` blocks are output shown to the reader, not examples.

A page without ``pyproject.toml`` gets the shop schema (tddkit/data/bench_schema.sql) as ``db/schema.sql``.
"""

from __future__ import annotations

import configparser
import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

from tddkit.cli.main import build_parser
from tddkit.config.settings import load_settings
from tests.support import ROOT, child_env, drop_project_templates

DOCS = ROOT / "docs"
SHOP_SCHEMA = ROOT / "tddkit" / "data" / "bench_schema.sql"
DEFAULT_CONFIG = '[tool.tddkit]\nschema = ["db/schema.sql"]\n'
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<lang>[\w-]*)(?P<info>[^\n]*)\n"
                   r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')
FILE_LANGUAGES = {"python", "toml", "sql", "ini", "cfg", "csv"}
CHECKED_LANGUAGES = {*FILE_LANGUAGES, "sh"}
SHOWN_LANGUAGES = {"text"}


@dataclasses.dataclass
class Example:
    page: Path
    line: int
    lang: str
    title: str | None
    body: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def module(self) -> str | None:
        """The test module's name, if this example is one."""
        if self.lang != "python":
            return None
        if self.title is None:
            return f"test_{slug(self.page)}_{self.line}"
        name = Path(self.title)
        return name.stem if name.name.startswith("test_") else None

    @property
    def runner(self) -> str:
        """pytest for a module of test functions, else ``python -m tddkit run`` (unittest classes)."""
        return "pytest" if re.search(r"^(async )?def test_", self.body, re.MULTILINE) else "tddkit"


def slug(page: Path) -> str:
    return re.sub(r"\W+", "_", str(page.relative_to(ROOT).with_suffix(""))).strip("_").lower()


def pages() -> list[Path]:
    found = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [p for p in found if p.relative_to(ROOT).parts[:2] not in (("docs", "measured"), ("docs", "hooks"))]


def examples(page: Path) -> list[Example]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        lang = match.group("lang")
        if lang not in CHECKED_LANGUAGES | SHOWN_LANGUAGES:
            line = text.count("\n", 0, match.start()) + 1
            raise AssertionError(f"{page.relative_to(ROOT)}:{line}: a code block in {lang or 'no language'}: "
                                 f"say which ({', '.join(sorted(CHECKED_LANGUAGES | SHOWN_LANGUAGES))})")
        if lang in SHOWN_LANGUAGES:
            continue
        title = TITLE.search(match.group("info"))
        indent = len(match.group("indent"))
        body = "".join(line[indent:] for line in match.group("body").splitlines(keepends=True))
        found.append(Example(page, text.count("\n", 0, match.start()) + 1, lang, title.group(1) if title else None,
                             body))
    return found


# --- projects ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """What one test module of a page did: tests run, and the failures' texts."""

    tests: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)


def group_of(page: Path) -> str:
    """Which project the page's examples go to: its own when it shows a ``pyproject.toml``, else the shared one of
    the pages on the default config (a few runs instead of one per page keep the suite fast)."""
    return str(page) if any(e.title == "pyproject.toml" for e in examples(page)) else DEFAULT_CONFIG


def groups() -> dict[str, list[Path]]:
    """The pages by their project, in page order."""
    found: dict[str, list[Path]] = {}
    for page in pages():
        found.setdefault(group_of(page), []).append(page)
    return found


class Project:
    """The files of pages that share a config, in one directory, and the results of running their test modules
    (one child process per runner for all of them: a few runs instead of one per page keep the suite fast)."""

    def __init__(self, pages: list[Path], root: Path, server_dsn: str) -> None:
        self.root, self.server_dsn = root, server_dsn
        self.examples = [example for page in pages for example in examples(page)]
        self.results: dict[str, Outcome] | None = None
        self.output = ""

    def write(self) -> None:
        self.root.mkdir(parents=True)
        (self.root / "db").mkdir()
        shutil.copy(SHOP_SCHEMA, self.root / "db" / "schema.sql")
        (self.root / "pyproject.toml").write_text(DEFAULT_CONFIG)
        written: dict[Path, Example] = {}
        shared = len({example.page for example in self.examples}) > 1
        for example in self.examples:
            if example.lang in FILE_LANGUAGES and (example.title or example.module):
                path = self.root / (example.title or f"{example.module}.py")
                other = written.setdefault(path, example)
                if other.body != example.body or (shared and example.title in ("db/schema.sql", "pyproject.toml")):
                    raise AssertionError(f"{example.where} and {other.where} write different files {example.title} "
                                         "(or one the default config provides): give one of them another name")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(example.body)

    def run(self) -> dict[str, Outcome]:
        """Run the page's test modules once (both runners); {module: outcome}."""
        if self.results is None:
            self.write()
            try:
                self.results = {}
                for runner in ("tddkit", "pytest"):
                    modules = [e.module for e in self.examples if e.module and e.runner == runner]
                    if modules:
                        self._run(runner, modules)
            finally:
                drop_project_templates(self.server_dsn, self.root)
        return self.results

    def _run(self, runner: str, modules: list[str]) -> None:
        report = self.root / f"junit-{runner}.xml"
        files = [f"{module}.py" for module in modules]
        if runner == "tddkit":
            command = [sys.executable, "-m", "tddkit", "run", *files, "--no-report", "--dsn", self.server_dsn,
                       "--junit-xml", str(report)]
        else:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files,
                       f"--tddkit-dsn={self.server_dsn}", f"--junitxml={report}"]
        env = child_env(PYTHONPATH=f"{self.root}:{ROOT}")
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=300)
        self.output += f"$ {shlex.join(command[1:])}\n{done.stdout}{done.stderr}"
        assert self.results is not None
        for module in modules:
            self.results[module] = Outcome()
        if not report.exists():
            for module in modules:
                self.results[module].problems.append(f"no JUnit report (exit code {done.returncode})")
            return
        for case in ET.parse(report).iter("testcase"):
            module = case.get("classname", "").split(".")[0]
            outcome = self.results.setdefault(module, Outcome())
            outcome.tests += 1
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome.problems.append(f"{case.get('name')}: {child.tag}: {child.get('message', '')}\n"
                                            f"{child.text or ''}")


# --- checks of the examples that are not run ------------------------------------------------------------


def check_toml(example: Example, tmp: Path) -> None:
    data = tomllib.loads(example.body)
    if example.title is None and "tool" in data and "tddkit" in data["tool"]:
        (tmp / "pyproject.toml").write_text(example.body)
        load_settings(environ={}, start=tmp)


def check_ini(example: Example) -> None:
    configparser.ConfigParser().read_string(example.body)


def _commands(body: str) -> list[list[str]]:
    joined = body.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        for part in re.split(r"\s*(?:&&|;|\|\|)\s*", line.split(" #")[0].strip()):
            if part and not part.startswith("#"):
                found.append(shlex.split(part))
    return found


def pytest_options() -> set[str]:
    """The command-line options the pytest plugin declares."""
    from tddkit.integrations import pytest_plugin

    class Recorder:
        names: set[str] = set()

        def getgroup(self, *args: object) -> Recorder:
            return self

        def addoption(self, *names: str, **kwargs: object) -> None:
            self.names.update(names)

    recorder = Recorder()
    pytest_plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    return recorder.names


def check_sh(example: Example, pytest_options: set[str]) -> int:
    """Check every command of a shell example; how many were checked."""
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    tox_envs = {section.split(":", 1)[1] for section in tox.sections() if section.startswith("testenv:")}
    tox_envs |= {env.strip() for env in tox["tox"]["env_list"].split(",")}
    checked = 0
    for argv in _commands(example.body):
        argv = [word for word in argv if not re.fullmatch(r"[A-Z_]+=\S*", word)]  # VAR=value prefixes
        if argv[:3] == ["python", "-m", "tddkit"]:
            try:
                build_parser().parse_args(argv[3:])
            except SystemExit as exc:
                raise AssertionError(f"{example.where}: {shlex.join(argv)} does not parse (exit {exc.code})") \
                    from None
        elif argv[:1] == ["pytest"] or argv[:3] == ["python", "-m", "pytest"]:
            unknown = [w.split("=")[0] for w in argv if w.startswith("--tddkit") and w.split("=")[0]
                       not in pytest_options]
            assert not unknown, f"{example.where}: pytest has no option {unknown}"
        elif argv[:2] == ["pip", "install"]:
            for word in argv[2:]:
                for extra in re.findall(r"\[([\w,]+)\]", word):
                    missing = set(extra.split(",")) - extras
                    assert not missing, f"{example.where}: pyproject.toml declares no extra {missing}"
        elif argv[:2] == ["tox", "-e"]:
            missing = set(argv[2].split(",")) - tox_envs
            assert not missing, f"{example.where}: tox.ini has no environment {missing}"
        else:
            continue
        checked += 1
    return checked
