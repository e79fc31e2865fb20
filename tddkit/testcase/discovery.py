"""Finding the tests to run: directories, files and dotted names, like ``python -m unittest``; shards.

A test module that fails to import is one failed test, as in unittest's
discovery, whose traceback shows the project's frames only: not those of
the loaders (tddkit's, unittest's, importlib's).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
import unittest
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from .._compat import failed_import_suite, is_failed_import, method_name_of, set_failed_import_error
from ..errors import TddkitError
from . import interrupts
from .runner import iter_tests


def top_level_dir(start: Path) -> Path:
    """The directory to import from: the first ancestor of ``start`` that is not a package."""
    top = start.resolve()
    while (top / "__init__.py").is_file():
        top = top.parent
    return top


#: Where the frames of the loaders (tddkit's, unittest's and importlib's) come from.
_MACHINERY = tuple(os.path.dirname(os.path.abspath(str(module.__file__))) + os.sep
                   for module in (sys.modules["tddkit"], unittest, importlib)) + ("<frozen importlib",)


def check_target(target: str) -> None:
    """Raise TddkitError (one line) when ``target`` is no directory, no .py file and no importable name."""
    path = Path(target)
    if path.is_dir():
        return
    if target.endswith(".py"):
        if not path.is_file():
            raise TddkitError(f"test file not found: {target}")
        return
    if "/" in target or os.sep in target:
        what = "is not a directory or a .py file" if path.exists() else "does not exist"
        raise TddkitError(f"test path {target} {what}; give a directory, a .py file or a dotted name "
                          "(tests.test_orders)")
    _import_from_cwd()
    try:
        found = importlib.util.find_spec(target.partition(".")[0])
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise TddkitError(f"no test directory, file or module named {target!r} (from {Path.cwd()}); give a "
                          "directory, a .py file or a dotted name importable from here")


def load_tests(targets: Sequence[str], pattern: str, name_patterns: list[str] | None) -> unittest.TestSuite:
    """Discover directories, load files and dotted names, like ``python -m unittest``."""
    suite = unittest.TestSuite()
    for target in targets or ["."]:
        check_target(target)
        loader = _Loader()
        if name_patterns:
            loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in name_patterns]
        path = Path(target)
        if path.is_dir():
            top = top_level_dir(path)
            found = loader.discover(str(path.resolve()), pattern=pattern, top_level_dir=str(top))
            suite.addTests(loader.with_user_frames(found))
            interrupts.raise_if_received()
            continue
        if target.endswith(".py"):
            top = top_level_dir(path.parent)
            if str(top) not in sys.path:
                sys.path.insert(0, str(top))
            target = ".".join(path.resolve().with_suffix("").relative_to(top).parts)
        _import_from_cwd()
        suite.addTests(_load_name(loader, target))
        interrupts.raise_if_received()
    return suite


def _import_from_cwd() -> None:
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))


class _Loader(unittest.TestLoader):
    """unittest's loader, keeping what each module that failed to import during discovery raised."""

    def __init__(self) -> None:
        super().__init__()
        self.import_errors: dict[str, Exception] = {}

    def _get_module_from_name(self, name: str) -> ModuleType:  # discovery imports each module through this
        try:
            module: ModuleType = super()._get_module_from_name(name)  # type: ignore[misc]  # private, not in typeshed
            return module
        except unittest.SkipTest:
            raise
        except Exception as exc:
            self.import_errors[name] = exc
            raise

    def with_user_frames(self, suite: unittest.TestSuite) -> unittest.TestSuite:
        """``suite``, its failed imports showing the project's frames only (unittest's show the loaders' too)."""
        if not self.import_errors:
            return suite
        for test in iter_tests(suite):
            if is_failed_import(test):
                exc = self.import_errors.get(method_name_of(test))
                if exc is not None:
                    set_failed_import_error(test, ImportError(_import_failure(method_name_of(test), exc)))
        return suite


def _load_name(loader: unittest.TestLoader, name: str) -> unittest.TestSuite:
    """The tests of a dotted name; a module that fails to import is one failed test, as in discovery."""
    exc = _import_error(name)
    if exc is None:
        try:
            return loader.loadTestsFromName(name)
        except Exception as error:  # the module imported, but what the name picks cannot be loaded
            exc = error
    return failed_import_suite(name, ImportError(_import_failure(name, exc)), loader.suiteClass)


def _import_error(name: str) -> Exception | None:
    """What importing the modules of dotted ``name`` raised (``tests.test_orders.Orders`` imports ``tests`` and
    ``tests.test_orders``; ``Orders`` is an attribute), or None when they all imported."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        module = ".".join(parts[:end])
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            parent = sys.modules.get(".".join(parts[:end - 1]))
            if exc.name == module and hasattr(parent, parts[end - 1]):
                return None  # an attribute of the module before it
            return exc
        except Exception as exc:  # a SyntaxError, or any error the module raised
            return exc
    return None


def _import_failure(name: str, exc: BaseException) -> str:
    """unittest's text for a module that failed to import, with the project's frames only."""
    return f"Failed to import test module: {name}\n{user_traceback(exc)}"


def user_traceback(exc: BaseException) -> str:
    """``exc`` formatted as Python does (chained exceptions too), without the loaders' frames."""
    formatted = traceback.TracebackException.from_exception(exc)
    pending = [formatted]
    while pending:
        current = pending.pop()
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if not frame.filename.startswith(_MACHINERY)])
        pending.extend(chained for chained in (current.__cause__, current.__context__) if chained is not None)
    return "".join(formatted.format())

