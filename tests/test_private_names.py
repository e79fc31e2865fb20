"""Only tddkit/_compat.py reaches private names of dependencies, and tddkit's subclasses of dependency classes give
no name of their own to a private name of their bases (it would replace the dependency's, silently)."""

import ast
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tddkit
from tddkit import _compat
from tests.support import ROOT

PACKAGE = ROOT / "tddkit"
COMPAT = PACKAGE / "_compat.py"
#: Underscored names that their libraries document as public.
PUBLIC = {"_exit"}  # os._exit
#: Modules for type checkers only, never imported at run time (typeshed's documented home of its aliases).
TYPING_ONLY = {"_typeshed"}
HOOKS = {hook for hooks in _compat.OVERRIDDEN_HOOKS.values() for hook in hooks}
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def private(name: str) -> bool:
    """A private name, not a dunder, and not one of the ``_tddkit`` names tddkit gives its own attributes."""
    return name.startswith("_") and not name.endswith("__") and not name.startswith("_tddkit")


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def code_strings(tree: ast.AST) -> list[ast.Constant]:
    """The string constants of ``tree`` that are not docstrings."""
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docs]


def reached_by_compat() -> "tuple[set[str], set[str]]":
    """The private names _compat.py reaches (as attributes or in strings), and the submodules it imports."""
    tree = parse(COMPAT)
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and private(node.attr)}
    names |= {word for node in code_strings(tree) for word in IDENTIFIER.findall(node.value) if private(word)}
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names if "." in alias.name}
    return names, modules


class Definitions:
    """The private names tddkit defines: in all (``names``) and on each class, with its tddkit bases (``of``)."""

    def __init__(self, paths: list[Path]) -> None:
        self.names: set[str] = set()
        self.direct: dict[str, set[str]] = {}
        self.bases: dict[str, list[str]] = {}
        for path in paths:
            for node in ast.walk(parse(path)):
                self.names |= self._defined(node)
                if isinstance(node, ast.ClassDef):
                    inside = set().union(*(self._defined(child, node) for child in ast.walk(node)))
                    self.direct.setdefault(node.name, set()).update(inside)
                    self.bases.setdefault(node.name, []).extend(
                        base.id if isinstance(base, ast.Name) else base.attr for base in node.bases
                        if isinstance(base, (ast.Name, ast.Attribute)))

    @staticmethod
    def _defined(node: ast.AST, cls: "ast.ClassDef | None" = None) -> set[str]:
        """Names ``node`` defines: a def or class, an assignment to a name (in ``cls``'s body when given) or to an
        attribute of self or cls, a __slots__ entry."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return {node.name} if cls is None or node in cls.body else set()
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) and getattr(node, "value", None) is not None else []
        found = set()
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name) and (cls is None or node in cls.body):
                    found.add(leaf.id)
                elif isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) and \
                        leaf.value.id in ("self", "cls"):
                    found.add(leaf.attr)
            if isinstance(target, ast.Name) and target.id == "__slots__":
                found |= {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
        return found

    def of(self, cls: str, seen: "set[str] | None" = None) -> set[str]:
        seen = seen if seen is not None else set()
        seen.add(cls)
        found = set(self.direct.get(cls, ()))
        for base in self.bases.get(cls, ()):
            if base not in seen:
                found |= self.of(base, seen)
        return found


class Uses(ast.NodeVisitor):
    """Where a module reaches a private name of a dependency, one line each."""

    def __init__(self, path: Path, reached: set[str], modules: set[str], defined: Definitions) -> None:
        self.where, self.reached, self.modules, self.defined = path.relative_to(ROOT), reached, modules, defined
        self.classes: list[str] = []
        self.functions: list[str] = []
        self.found: list[str] = []

    def note(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.where}:{getattr(node, 'lineno', '?')}: {what}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if self.classes and node.name in self.reached and node.name not in HOOKS:
            self.note(node, f"defines {node.name} (list it in _compat.OVERRIDDEN_HOOKS if tddkit overrides it)")
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name, owner = node.attr, node.value
        if private(name) and name not in PUBLIC:
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                allowed = name in HOOKS and self.functions[-1:] == [name]
            elif isinstance(owner, ast.Name) and owner.id in ("self", "cls") and self.classes:
                allowed = name in self.defined.of(self.classes[-1])
            else:
                allowed = name in self.defined.names and name not in self.reached
            if not allowed:
                self.note(node, f"{ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.reached:
            self.note(node, node.id)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr", "setattr", "delattr") and \
                len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            name = node.args[1].value
            if private(name) and name not in self.defined.names:
                self.note(node, f"{node.func.id}(..., {name!r})")
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._imported(node, alias.name, [])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._imported(node, node.module, [alias.name for alias in node.names])

    def _imported(self, node: ast.AST, module: str, names: list[str]) -> None:
        if module.split(".")[0] in ("tddkit", *TYPING_ONLY):
            return
        private_parts = [part for part in module.split(".") + names if private(part)]
        if private_parts or any(module == m or module.startswith(m + ".") for m in self.modules):
            self.note(node, f"imports {module} {' '.join(names)}".strip())


class PrivateNameTests(unittest.TestCase):
    longMessage = False  # the list once, one line each

    def test_only_compat_reaches_private_names_of_dependencies(self):
        paths = sorted(p for p in PACKAGE.rglob("*.py") if p != COMPAT)
        reached, modules = reached_by_compat()
        self.assertIn("_callSetUp", reached)  # the scan reads _compat.py as it is written
        defined = Definitions(paths)
        found = []
        for path in paths:
            tree = parse(path)
            uses = Uses(path, reached, modules, defined)
            uses.visit(tree)
            found += uses.found
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}" for node in code_strings(tree)
                      if set(IDENTIFIER.findall(node.value)) & (reached - HOOKS)]
        self.assertFalse(found, "these reach a private name of a dependency: do it in tddkit/_compat.py, with a "
                                "test in tests/test_private_apis.py, and use that here:\n" + "\n".join(found))

    def test_subclasses_do_not_take_private_names_of_their_bases(self):
        defined = Definitions(sorted(PACKAGE.rglob("*.py")))
        clashes = []
        for module in _tddkit_modules():
            for cls in vars(module).values():
                if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                    continue
                theirs = set()
                for base in cls.__mro__[1:]:
                    if base.__module__.split(".")[0] not in ("tddkit", "builtins", "typing"):
                        theirs |= {name for name in vars(base) if private(name)} | _assigned_on_self(base)
                for name in sorted((defined.of(cls.__name__) & theirs) - HOOKS):
                    clashes.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
        self.assertFalse(clashes, "a dependency's base class has a private name spelled as these of tddkit's "
                                  "(it changed, or tddkit took its name): rename tddkit's:\n" + "\n".join(clashes))


def _tddkit_modules() -> list[object]:
    """Every module of tddkit that imports here (those needing an optional dependency that is missing are left out)."""
    found = []
    for info in pkgutil.walk_packages(tddkit.__path__, "tddkit."):
        if info.name.endswith("__main__"):
            continue
        try:
            found.append(importlib.import_module(info.name))
        except ImportError:
            continue
    return found


def _assigned_on_self(cls: type) -> set[str]:
    """The private attributes a dependency's class sets on ``self`` in its source (none when it has no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return set()
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == "self" and private(node.attr)}


if __name__ == "__main__":
    unittest.main()
