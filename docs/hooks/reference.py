"""The generated reference: settings, environment variables, command-line options, pytest options and fixtures,
exit codes, each read from the code that implements them, so the site cannot drift from it.

A page asks for a part with an HTML comment on a line of its own, ``<!-- generated: settings -->``; MkDocs
calls ``on_page_markdown`` (this file is a hook in mkdocs.yml) and the comment is replaced by the part.
tests/test_docs_reference.py imports this module to check that every option and key the code knows is here.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # this checkout's tddkit, not an installed one
    sys.path.insert(0, str(ROOT))

from tddkit.cli.main import build_parser  # noqa: E402
from tddkit.config import settings as settings_module  # noqa: E402

PLUGIN = ROOT / "tddkit" / "integrations" / "pytest_plugin.py"
EXIT_CODES = ROOT / "tddkit" / "exit_codes.py"
MARKER = re.compile(r"^<!-- generated: ([a-z_ -]+) -->$", re.MULTILINE)

#: Variables tddkit reads that are not settings (every ``TDDKIT_<KEY>`` of a setting is listed from the settings).
OTHER_VARIABLES = {
    "TDDKIT_RUN_DIR": "where run directories (the throwaway server's data directory and socket) go; default "
                      "`/dev/shm` when it has room, else the temporary directory",
}


def cell(text: object) -> str:
    """``text`` fit for a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


# --- settings --------------------------------------------------------------------------------------------


def expected(parse: Callable[[Any], Any]) -> str:
    """What a setting's parser accepts, in the words of its own error message."""
    try:
        parse(object())
    except ValueError as exc:
        return str(exc)
    raise AssertionError(f"the parser {parse!r} accepted an object()")


def default_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, dict):
        return "see below" if value else "`{}`"
    if isinstance(value, list):
        return "`[" + ", ".join(f'"{item}"' for item in value) + "]`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def variables_of(name: str) -> list[str]:
    """The environment variables that set setting ``name``, found by asking the loader itself."""
    candidates = [f"TDDKIT_{name.upper()}", *(("TDDKIT_DATABASE_URL", "DATABASE_URL") if name == "dsn" else ())]
    value = {"dsn": "postgresql://", "pg_source": "auto", "database": "tddkit_x"}.get(name, "1")
    return [variable for variable in candidates
            if name in settings_module._env_settings({variable: value})]  # noqa: SLF001 (the loader itself)


def fields() -> list[dataclasses.Field[Any]]:
    return list(settings_module.FIELDS.values())


def settings_reference() -> str:
    defaults = settings_module.Settings()
    rows = []
    for field in fields():
        variables = variables_of(field.name)
        rows.append([f"`{field.name}`", expected(field.metadata["parse"]), default_text(getattr(defaults, field.name)),
                     ", ".join(f"`{v}`" for v in variables) or "none: set it in the file",
                     field.metadata["help"]])
    return table(["key", "value", "default", "environment variable", "meaning"], rows)


def tables_reference() -> str:
    """The keys of each table setting, with their defaults."""
    parts = []
    optional = settings_module.OPTIONAL_GATE
    for field in fields():
        default = getattr(settings_module.Settings(), field.name)
        if not isinstance(default, dict):
            continue
        rows = [[f"`{key}`", default_text(value)] for key, value in default.items()]
        if field.name == "gate":
            rows += [[f"`{key}`", f"off ({expected(parse)})"] for key, parse in optional.items()]
        fixed = field.name in ("targets", "gate")
        parts.append(f"**`[tool.tddkit.{field.name}]`**: {field.metadata['help']}; "
                     + ("only these keys." if fixed else "any key.") + "\n\n"
                     + (table(["key", "default"], rows) if rows else "No entries by default."))
    return "\n\n".join(parts)


def environment_reference() -> str:
    rows = []
    for field in fields():
        for variable in variables_of(field.name):
            rows.append([f"`{variable}`", f"setting `{field.name}`: {field.metadata['help']}"])
    rows += [[f"`{variable}`", meaning] for variable, meaning in OTHER_VARIABLES.items()]
    return table(["variable", "what it sets"], rows)


# --- the command line ------------------------------------------------------------------------------------


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    return dict(sub.choices)


def option_rows(parser: argparse.ArgumentParser) -> Iterator[list[str]]:
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._HelpAction):  # noqa: SLF001
            continue
        if action.option_strings:
            names = ", ".join(f"`{name}`" for name in action.option_strings)
            takes = "" if action.nargs == 0 else (action.metavar or action.dest.upper())
            if action.nargs == "?":
                takes = f"[{takes}]"
        else:
            names = f"`{action.metavar or action.dest}`"
            takes = f"one of {', '.join(action.choices)}" if action.choices else \
                "any number" if action.nargs == "*" else ""
        if not action.help:
            raise AssertionError(f"option {names} of {parser.prog} has no help text")
        default = "" if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else \
            f"`{action.default}`"
        yield [names, takes, default, action.help]


def cli_reference(command: str) -> str:
    parser = commands()[command]
    usage = parser.format_usage().replace("usage: ", "", 1).strip()
    usage = re.sub(r"\s+", " ", usage)
    return f"```text\n{usage}\n```\n\n" + table(["option", "argument", "default", "what it does"],
                                                 list(option_rows(parser)))


# --- pytest ----------------------------------------------------------------------------------------------


class _Options:
    """Stands in for pytest's parser: records what the plugin's ``pytest_addoption`` declares."""

    def __init__(self) -> None:
        self.options: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def getgroup(self, *args: Any, **kwargs: Any) -> _Options:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.options.append((names, kwargs))

    def addini(self, name: str, help: str, **kwargs: Any) -> None:  # noqa: A002 - pytest's own name
        self.options.append(((name,), {"help": help, "ini": True, **kwargs}))


def pytest_options() -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The command-line and ini options of the plugin and of the modules it registers."""
    import importlib

    from tddkit.integrations import pytest_plugin

    recorder = _Options()
    for module in (pytest_plugin, *map(importlib.import_module, pytest_plugin.pytest_plugins)):
        if hasattr(module, "pytest_addoption"):
            module.pytest_addoption(recorder)
    return recorder.options


def pytest_options_reference() -> str:
    rows = []
    for names, kwargs in pytest_options():
        takes = kwargs.get("metavar", "") if kwargs.get("action") != "store_true" else ""
        if kwargs.get("nargs") == "?":
            takes = f"[{takes}]"
        if kwargs.get("ini"):
            takes = f"ini option, {kwargs['type']}"
        rows.append([", ".join(f"`{name}`" for name in names), takes, kwargs["help"]])
    return table(["option", "argument", "what it does"], rows)


def _plugin_tree() -> ast.Module:
    return ast.parse(PLUGIN.read_text())


def _plugin_modules() -> list[ast.Module]:
    """The plugin's module and the modules it registers with ``pytest_plugins``."""
    tree = _plugin_tree()
    names = [element.value for node in tree.body if isinstance(node, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets)
             for element in getattr(node.value, "elts", []) if isinstance(element, ast.Constant)]
    return [tree, *(ast.parse(PLUGIN.with_name(name.rpartition(".")[2] + ".py").read_text()) for name in names)]


def fixtures() -> list[tuple[str, str, str]]:
    """(name, scope, docstring) of every public fixture the plugin defines, read from its source."""
    found = []
    for node in (node for module in _plugin_modules() for node in module.body):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if isinstance(target, ast.Attribute) and target.attr == "fixture" or \
                    isinstance(target, ast.Name) and target.id == "async_fixture":
                scope = next((k.value.value for k in (call.keywords if call else ())
                              if k.arg == "scope" and isinstance(k.value, ast.Constant)), "function")
                doc = ast.get_docstring(node)
                if not doc:
                    raise AssertionError(f"fixture {node.name} has no docstring")
                found.append((node.name, str(scope), " ".join(doc.split())))
    return found


def fixtures_reference() -> str:
    return table(["fixture", "scope", "what it is"],
                 [[f"`{name}`", scope, doc.replace("``", "`")] for name, scope, doc in fixtures()])


def markers() -> list[str]:
    """The markers the plugin registers (``config.addinivalue_line("markers", ...)``)."""
    found = []
    for node in ast.walk(_plugin_tree()):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "addinivalue_line" and len(node.args) == 2 and \
                isinstance(node.args[0], ast.Constant) and node.args[0].value == "markers" and \
                isinstance(node.args[1], ast.Constant):
            found.append(str(node.args[1].value))
    return found


def markers_reference() -> str:
    rows = []
    for line in markers():
        signature, _, meaning = line.partition(": ")
        rows.append([f"`@pytest.mark.{signature}`", meaning])
    return table(["marker", "what it does"], rows)


# --- exit codes --------------------------------------------------------------------------------------------


def exit_codes() -> list[tuple[str, int, str]]:
    """(name, code, meaning) of every constant in tddkit/exit_codes.py, the meaning from its comment."""
    found = []
    for line in EXIT_CODES.read_text().splitlines():
        match = re.match(r"^(EXIT_\w+) = (\d+)\s+# (.+)$", line)
        if match:
            found.append((match.group(1), int(match.group(2)), match.group(3)))
    return found


def exit_codes_reference() -> str:
    return table(["code", "constant", "meaning"],
                 [[f"`{code}`", f"`{name}`", meaning] for name, code, meaning in exit_codes()])


PARTS: dict[str, Callable[[], str]] = {
    "settings": settings_reference,
    "setting tables": tables_reference,
    "environment": environment_reference,
    "cli run": lambda: cli_reference("run"),
    "cli watch": lambda: cli_reference("watch"),
    "cli bench": lambda: cli_reference("bench"),
    "cli server": lambda: cli_reference("server"),
    "pytest options": pytest_options_reference,
    "fixtures": fixtures_reference,
    "markers": markers_reference,
    "exit codes": exit_codes_reference,
}


def expand(markdown: str) -> str:
    """``markdown`` with every ``<!-- generated: NAME -->`` line replaced by its part."""
    def part(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in PARTS:
            raise KeyError(f"no generated part named {name!r}; known: {', '.join(PARTS)}")
        return PARTS[name]()
    return MARKER.sub(part, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs' hook: expand the page's generated parts."""
    return expand(markdown)
