"""Python files a schema is built from, found without running them: a module's file, and what files import.

Nothing here imports the project's modules: finding them asks the import
system's finders for a module's location (``find_spec`` runs no module), and
following imports reads the files' ``import`` lines as text. A line that only
looks like an import (in a string, say) can add a file, never drop one: at
worst an edit there rebuilds the template once more than needed.
"""

from __future__ import annotations

import importlib.machinery
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n;]+)|import[ \t]+([^\n;]+))",
                     re.MULTILINE)
_COMMENT = re.compile(rb"#[^\n]*")
#: Directories whose modules are installed packages, never the project's own.
_INSTALLED = {"site-packages", "dist-packages"}


def _find(name: str, path: Sequence[str] | None, roots: Sequence[str]) -> Any:
    """The spec of ``name`` (a top-level module when ``path`` is None): on ``roots`` first, then as import would."""
    if path is None and roots:
        spec = importlib.machinery.PathFinder.find_spec(name, list(roots))
        if spec is not None:
            return spec
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        try:
            spec = find_spec(name, path) if find_spec is not None else None
        except (ImportError, ValueError, AttributeError):
            continue
        if spec is not None:
            return spec
    return None


def module_file(name: str, roots: Sequence[str] = ()) -> Path | None:
    """The file of module ``name`` (a package's ``__init__.py``), searched on ``roots`` then where import
    looks, without running it or its packages; None if there is none."""
    path: Sequence[str] | None = None
    spec = None
    parts = name.split(".")
    for index in range(len(parts)):
        qualified = ".".join(parts[:index + 1])
        loaded = sys.modules.get(qualified)
        spec = getattr(loaded, "__spec__", None) if loaded is not None else None
        if spec is None:
            spec = _find(qualified, path, roots)
        if spec is None:
            return None
        path = spec.submodule_search_locations
        if path is None and index < len(parts) - 1:
            return None
    origin = getattr(spec, "origin", None)
    return Path(origin) if origin and getattr(spec, "has_location", False) else None


def _imported_names(source: bytes, package: str) -> set[str]:
    """Modules an ``import`` line of ``source`` names (for ``from a import b``: ``a`` and ``a.b``)."""
    names: set[str] = set()
    for base, fromlist, plain in _IMPORT.findall(source):
        if plain:
            names.update(item.split()[0] for item in _items(plain))
            continue
        module = base.decode("ascii", "replace")
        dots = len(module) - len(module.lstrip("."))
        if dots:
            if not package:
                continue  # relative to a file that is not in a package
            anchor = package.split(".")[: len(package.split(".")) - dots + 1]
            module = ".".join([*anchor, module[dots:]] if module[dots:] else anchor)
        names.add(module)
        names.update(f"{module}.{item.split()[0]}" for item in _items(fromlist.strip(b"()")))
    return {name for name in names if name and all(part.isidentifier() for part in name.split("."))}


def _items(text: bytes) -> list[str]:
    return [item.strip() for item in _COMMENT.sub(b"", text).decode("utf-8", "replace").replace("\\", " ").split(",")
            if item.strip()]


def in_project(path: Path, project: Path) -> bool:
    """Whether ``path`` is the project's own file: under ``project`` and not in an installed packages directory."""
    return path.is_relative_to(project) and not _INSTALLED.intersection(path.parts)


def project_imports(sources: Iterable[Path], roots: Sequence[str], project: Path) -> list[Path]:
    """The project's files that ``sources`` import, directly or through each other (their packages'
    ``__init__.py`` too), sorted; modules are searched on ``roots`` first, then where import looks."""
    pending = [(path, "") for path in sources]
    found: dict[Path, str] = {}
    while pending:
        path, package = pending.pop()
        try:
            source = path.read_bytes()
        except OSError:
            continue
        for name in _imported_names(source, package):
            parts = name.split(".")
            for index in range(1, len(parts) + 1):  # a.b.c runs a/__init__.py and a/b/__init__.py first
                qualified = ".".join(parts[:index])
                file = module_file(qualified, roots)
                if file is None:
                    break
                file = file.resolve()
                if not in_project(file, project):
                    break  # an installed package: neither it nor its modules are the project's
                if file not in found:
                    found[file] = qualified if file.name == "__init__.py" else qualified.rpartition(".")[0]
                    pending.append((file, found[file]))
    return sorted(found)
