"""Finding and reading the config file: pyproject.toml ``[tool.tddkit]`` or setup.cfg ``[tddkit]``.

Found like pytest's rootdir: from the common ancestor of the run's targets
upward, then from the current directory upward. The first directory whose
pyproject.toml has a ``[tool.tddkit]`` table or whose setup.cfg has a
``[tddkit]`` section wins; a pyproject.toml or setup.cfg without tddkit
settings does not stop the search (in a monorepo the settings usually sit in
the top project, above packages that have their own pyproject.toml).
"""

from __future__ import annotations

import configparser
import os
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: The files that may hold tddkit settings, highest precedence first.
CONFIG_FILES = ("pyproject.toml", "setup.cfg")


def _mentions_tddkit(path: Path) -> bool:
    """Whether the file's bytes mention tddkit at all (skips parsing unrelated files)."""
    try:
        return b"tddkit" in path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_toml_table(path: Path) -> Any | None:
    """The value of ``[tool.tddkit]`` in a pyproject.toml (not always a table), or None if it has none."""
    if not _mentions_tddkit(path):
        return None
    try:
        with open(path, "rb") as fh:
            tool = tomllib.load(fh).get("tool", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse ({exc})") from None
    return tool.get("tddkit") if isinstance(tool, dict) else None


class _CaseKeepingParser(configparser.ConfigParser):
    """Keys as written: metric names keep their case."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def read_cfg_sections(path: Path) -> dict[str, dict[str, str]]:
    """The ``[tddkit]`` and ``[tddkit.<table>]`` sections of a setup.cfg: raw text, keys as written."""
    if not _mentions_tddkit(path):
        return {}
    parser = _CaseKeepingParser(interpolation=None)  # a '%' in a DSN is not an interpolation
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse ({exc})") from None
    return {s: dict(parser.items(s)) for s in parser.sections() if s == "tddkit" or s.startswith("tddkit.")}


def holds_settings(path: Path) -> bool:
    """Whether ``path`` is a file holding tddkit settings (a [tool.tddkit] value or a [tddkit] section)."""
    if not path.is_file():
        return False
    return bool(read_cfg_sections(path)) if path.name == "setup.cfg" else read_toml_table(path) is not None


def search_starts(targets: Sequence[str], start: Path | None = None) -> list[Path]:
    """Where searches begin: the common ancestor of the targets that are existing paths, then ``start`` (cwd)."""
    dirs = [p if p.is_dir() else p.parent for p in (Path(t).resolve() for t in targets) if p.exists()]
    first = [Path(os.path.commonpath(dirs))] if dirs else []
    return [*first, (start or Path.cwd()).resolve()]


def _upward(targets: Sequence[str], start: Path | None) -> Iterator[Path]:
    """Each directory at or above each search start, once."""
    seen = set()
    for begin in search_starts(targets, start):
        for directory in (begin, *begin.parents):
            if directory not in seen:
                seen.add(directory)
                yield directory


def find_config(targets: Sequence[str] = (), start: Path | None = None) -> Path | None:
    """The config file of a run of ``targets`` (paths; dotted names are skipped), searched at and above their
    common ancestor, then at and above ``start`` (default: the cwd); pyproject.toml before setup.cfg; else None."""
    for directory in _upward(targets, start):
        for name in CONFIG_FILES:
            if holds_settings(directory / name):
                return directory / name
    return None


def find_project_root(targets: Sequence[str] = (), start: Path | None = None) -> Path | None:
    """The nearest directory holding pyproject.toml or setup.cfg, with or without tddkit settings, searched
    like find_config; relative paths resolve against it when no config file is found."""
    return next((d for d in _upward(targets, start) if any((d / n).is_file() for n in CONFIG_FILES)), None)
