"""Finding the tests to run: directories, files and dotted names, like ``python -m unittest``; shards."""

from __future__ import annotations

import importlib.util
import os
import sys
import unittest
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from . import interrupts
from .errors import TddkitError
from .runner import iter_tests
from .sharding import group_by_class, load_durations, shard


def top_level_dir(start: Path) -> Path:
    """The directory to import from: the first ancestor of ``start`` that is not a package."""
    top = start.resolve()
    while (top / "__init__.py").is_file():
        top = top.parent
    return top


def load_tests(targets: Sequence[str], pattern: str, name_patterns: Optional[List[str]]) -> unittest.TestSuite:
    """Discover directories, load files and dotted names, like ``python -m unittest``."""
    suite = unittest.TestSuite()
    for target in targets or ["."]:
        loader = unittest.TestLoader()
        if name_patterns:
            loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in name_patterns]
        path = Path(target)
        if path.is_dir():
            top = top_level_dir(path)
            suite.addTests(loader.discover(str(path.resolve()), pattern=pattern, top_level_dir=str(top)))
            interrupts.raise_if_received()
            continue
        if target.endswith(".py"):
            if not path.is_file():
                raise TddkitError(f"test file not found: {target}")
            top = top_level_dir(path.parent)
            if str(top) not in sys.path:
                sys.path.insert(0, str(top))
            target = ".".join(path.resolve().with_suffix("").relative_to(top).parts)
        elif "/" in target or os.sep in target:
            what = "is not a directory or a .py file" if path.exists() else "does not exist"
            raise TddkitError(f"test path {target} {what}; give a directory, a .py file or a dotted name "
                              "(tests.test_orders)")
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        suite.addTests(_load_name(loader, target))
        interrupts.raise_if_received()
    return suite


def _load_name(loader: unittest.TestLoader, name: str) -> unittest.TestSuite:
    """The tests of a dotted name; a module that fails to import is one failed test, as in discovery."""
    try:
        found = importlib.util.find_spec(name.partition(".")[0])
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise TddkitError(f"no test directory, file or module named {name!r} (from {Path.cwd()}); give a "
                          "directory, a .py file or a dotted name importable from here")
    try:
        return loader.loadTestsFromName(name)
    except Exception:  # unittest reports ImportError itself; a SyntaxError, or any error the module raised
        suite, _ = unittest.loader._make_failed_import_test(name, loader.suiteClass)  # type: ignore[attr-defined]
        return suite


def select(suite: unittest.TestSuite, shard_of: Optional[Tuple[int, int]], durations_path: Path,
           by_class: bool) -> unittest.TestSuite:
    """The suite, cut to one shard and grouped by class when sharding or running in parallel."""
    if not shard_of and not by_class:
        return suite
    groups = group_by_class(iter_tests(suite))
    if shard_of:
        groups = shard(groups, load_durations(durations_path), *shard_of)
    return unittest.TestSuite(t for g in groups for t in g)
