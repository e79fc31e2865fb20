"""The package's shape: sub-packages import each other in one direction, no import cycles, small modules."""

import ast
import unittest
from pathlib import Path

import tddkit
from tests.support import ROOT

PACKAGE = ROOT / "tddkit"

#: The layers, lowest first: a module may import from its own layer's package and from the layers below.
LAYERS = [
    {"_version", "errors", "exit_codes", "_compat"},
    {"output"},
    {"config"},
    {"server"},
    {"measure"},
    {"isolation"},
    {"aio"},
    {"session"},
    {"reporting"},
    {"integrations"},
    {"testcase"},
    {"parallel"},
    {"watch", "bench"},
    {"cli"},
]
LAYER_OF = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
MAX_TOP_LEVEL, MAX_PER_PACKAGE, MAX_LINES = 12, 15, 320


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """tddkit modules ``path`` imports anywhere in its source (functions, TYPE_CHECKING blocks included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(paths)) for name, path in paths.items()}


def part_of(module: str) -> str:
    """The sub-package (or top-level module) a module belongs to: ``tddkit.session.admin`` -> ``session``."""
    return module.split(".")[1] if "." in module else ""


class LayoutTests(unittest.TestCase):
    def test_sub_packages_import_only_their_own_layer_and_the_layers_below(self):
        wrong = []
        for module, imports in sorted(import_graph().items()):
            if module in ("tddkit", "tddkit.__main__"):
                continue  # the package's lazy public names and the entry point reach everywhere by design
            rank = LAYER_OF.get(part_of(module))
            self.assertIsNotNone(rank, f"{module}: its sub-package is in no layer of LAYERS")
            for target in sorted(imports):
                target_rank = LAYER_OF.get(part_of(target), -1)
                if target_rank > rank or (target_rank == rank and part_of(target) != part_of(module)):
                    wrong.append(f"{module} -> {target}")
        self.assertEqual(wrong, [], "imports against the layering (a higher layer, or a sibling)")

    def test_no_import_cycles_lazy_imports_included(self):
        graph = import_graph()
        visiting: dict[str, bool] = {}  # module -> still on the current path
        cycles = []

        def visit(module: str, path: list) -> None:
            visiting[module] = True
            for target in sorted(graph[module]):
                if visiting.get(target):
                    cycles.append(" -> ".join(path[path.index(target):] + [target]))
                elif target not in visiting:
                    visit(target, path + [target])
            visiting[module] = False

        for module in sorted(graph):
            if module not in visiting and module != "tddkit":  # tddkit's lazy names import their modules
                visit(module, [module])
        self.assertEqual(cycles, [])

    def test_few_modules_per_package_small_modules_and_empty_sub_package_inits(self):
        top = [p.name for p in PACKAGE.glob("*.py")]
        self.assertLessEqual(len(top), MAX_TOP_LEVEL, sorted(top))
        for package in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
            with self.subTest(package=package.name):
                modules = [p for p in package.glob("*.py") if p.name != "__init__.py"]
                self.assertLessEqual(len(modules), MAX_PER_PACKAGE, sorted(m.name for m in modules))
                body = ast.parse((package / "__init__.py").read_text()).body
                self.assertEqual([type(node) for node in body], [ast.Expr], "one docstring, no imports")
        long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
                if (n := len(p.read_text().splitlines())) > MAX_LINES}
        self.assertEqual(long, {}, f"modules over {MAX_LINES} lines")

    def test_lazy_public_names_and_the_type_checkers_view_name_the_same_objects(self):
        source = ast.parse((PACKAGE / "__init__.py").read_text())
        checked = {}
        for node in ast.walk(source):
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                for statement in node.body:
                    assert isinstance(statement, ast.ImportFrom)
                    for alias in statement.names:
                        self.assertEqual(alias.asname, alias.name, "re-exported as itself")
                        checked[alias.name] = (statement.module or "").lstrip(".")
        self.assertEqual(checked, tddkit._EXPORTS)
        for name in tddkit.__all__:
            with self.subTest(name=name):
                self.assertIs(getattr(tddkit, name), getattr(__import__(f"tddkit.{checked[name]}",
                                                                        fromlist=[name]), name))
