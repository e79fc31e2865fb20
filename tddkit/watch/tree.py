"""The watched tree: which directories ``watch`` follows and which files in them count as the project's.

Ignored everywhere: version-control and tool directories, virtual
environments (``venv``, ``.venv`` and any directory holding a
``pyvenv.cfg``), ``__pycache__``, ``node_modules`` and ``.tox``; besides
them, the ``watch_ignore`` globs, matched against paths relative to the
tree's root (a glob matching a directory ignores everything under it).
tddkit's own package never counts as project code: the watching process
runs it.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: Directory names never watched.
IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", "venv", ".venv", "__pycache__", "node_modules", ".tox", ".nox", ".eggs",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".idea", ".tddkit",
})

_OWN_PACKAGE = str(Path(__file__).resolve().parent.parent) + os.sep


class WatchedTree:
    """Directories under ``roots`` minus the ignored ones."""

    def __init__(self, roots: Sequence[Path], *, ignore: Sequence[str] = ()) -> None:
        resolved: list[Path] = []
        for root in (Path(r).resolve() for r in roots):
            if not any(root == r or r in root.parents for r in resolved):
                resolved.append(root)
        self.roots = resolved
        self.ignore = list(ignore)
        self._prefixes = [str(r).rstrip(os.sep) + os.sep for r in resolved]
        self._verdicts: dict[str, bool] = {}

    def relative_parts(self, path: str) -> list[str] | None:
        """The parts of ``path`` below the root holding it; None when it is outside every root."""
        for prefix in self._prefixes:
            if path.startswith(prefix):
                return path[len(prefix):].split(os.sep)
        return None

    def ignores(self, path: str) -> bool:
        """Whether ``path`` (absolute, resolved) is outside the tree or in an ignored place."""
        verdict = self._verdicts.get(path)
        if verdict is None:
            verdict = self._verdicts[path] = self._ignores(path)
        return verdict

    def _ignores(self, path: str) -> bool:
        parts = self.relative_parts(path)
        if parts is None:
            return True
        if any(part in IGNORED_DIRS for part in parts):
            return True
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(prefix, glob) for glob in self.ignore for prefix in prefixes):
            return True
        directory = os.path.dirname(path)
        return any(os.path.isfile(os.path.join(directory, *([".."] * up), "pyvenv.cfg"))
                   for up in range(len(parts) - 1))

    def is_project_file(self, path: str) -> bool:
        """A file of the project: in the tree, not ignored, not tddkit's own."""
        return not path.startswith(_OWN_PACKAGE) and not self.ignores(path)

    def directories(self) -> list[str]:
        """Every directory to watch (each watched on its own, not recursively): the roots and what is below
        them, minus ignored directories and virtual environments."""
        found: list[str] = []
        for root in self.roots:
            for directory, subdirs, _ in os.walk(root):
                found.append(directory)
                subdirs[:] = [d for d in subdirs if not self._skip_dir(os.path.join(directory, d))]
        return found

    def _skip_dir(self, path: str) -> bool:
        return os.path.isfile(os.path.join(path, "pyvenv.cfg")) or self.ignores(path)


def purge_project_modules(tree: WatchedTree) -> None:
    """Forget the project's modules this process imported (a schema hook, say): children import them fresh."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and tree.is_project_file(_realpath(path)):
            del sys.modules[name]


@functools.cache
def _realpath(path: str) -> str:
    return os.path.realpath(path)
