"""Records which modules each module imports, so a changed file maps to the test modules that depend on it.

``ImportRecorder`` wraps ``builtins.__import__`` and ``importlib.import_module``
in a process (watch's forked child) and notes an edge from the importing
module to each module it asks for, cached imports included. ``depends_on``
walks the edges from a test module and returns the project files it reached.
"""

from __future__ import annotations

import builtins
import importlib
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType

from .._compat import getframe


class ImportRecorder:
    """Notes ``importer -> imported`` module names while installed."""

    def __init__(self) -> None:
        self.edges: dict[str, set[str]] = defaultdict(set)
        self._saved: tuple[Callable[..., ModuleType], Callable[..., ModuleType]] | None = None

    def install(self) -> ImportRecorder:
        """Start recording (wraps the import functions of this process)."""
        original_import, original_import_module = builtins.__import__, importlib.import_module
        self._saved = (original_import, original_import_module)
        edges = self.edges

        def recording_import(name: str, globals: Mapping[str, object] | None = None,
                             locals: Mapping[str, object] | None = None,
                             fromlist: Sequence[str] | None = (), level: int = 0) -> ModuleType:
            module = original_import(name, globals, locals, fromlist, level)
            importer = globals.get("__name__") if globals else None
            if isinstance(importer, str) and importer:
                target = module.__name__ if fromlist or level else name
                found = edges[importer]
                found.add(target)
                for item in fromlist or ():
                    found.add(f"{target}.{item}")  # a submodule, if it is one (unknown names are skipped later)
            return module

        def recording_import_module(name: str, package: str | None = None) -> ModuleType:
            module = original_import_module(name, package)
            importer = getframe(1).f_globals.get("__name__")
            if importer:
                edges[importer].add(module.__name__)
            return module

        builtins.__import__ = recording_import
        importlib.import_module = recording_import_module
        return self

    def uninstall(self) -> None:
        """Stop recording."""
        if self._saved is not None:
            builtins.__import__, importlib.import_module = self._saved
            self._saved = None

    def depends_on(self, module: str, is_project_file: Callable[[str], bool]) -> list[str]:
        """The project files ``module`` imports, directly or through other modules (its own file too)."""
        seen: set[str] = set()
        pending = [module]
        files: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            path = _file_of(name)
            if path is None or not is_project_file(path):
                continue  # a module outside the project: its own imports do not matter
            files.add(path)
            pending.extend(self.edges.get(name, ()))
            pending.extend(_parents(name))
        return sorted(files)


def _file_of(name: str) -> str | None:
    """The resolved file of an imported module (a package's ``__init__.py``), or None."""
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    return str(Path(path).resolve()) if path else None


def _parents(name: str) -> Iterable[str]:
    """``a`` and ``a.b`` for ``a.b.c``: packages whose ``__init__`` ran to import it."""
    parts = name.split(".")
    return (".".join(parts[:i]) for i in range(1, len(parts)))


def loaded_after(before: set[str]) -> list[str]:
    """Names of modules imported since ``before`` (a snapshot of ``sys.modules``'s keys)."""
    return [name for name in list(sys.modules) if name not in before]
