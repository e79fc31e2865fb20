"""One batch of ``watch``, inside the forked child: load the targets, run them, report what the run learnt.

A target that cannot be imported (a SyntaxError, a NameError at import time)
becomes a test that shows the error, so the closing line counts it and
watching goes on. The outcome tells the parent which project files each test
module imports (recorded by ``import_graph``), which targets failed to load,
and which other modules the run imported (the parent imports them too, so the
next child starts with them loaded).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import unittest
from collections.abc import Callable

from .._compat import FAILED_IMPORT_ID
from ..errors import TddkitError
from ..session.session import Session
from ..testcase.discovery import load_tests, user_traceback
from ..testcase.runner import PreformattedError, TDDTestRunner, closing_line, iter_tests
from .import_graph import ImportRecorder, loaded_after
from .tree import WatchedTree


@dataclasses.dataclass
class Batch:
    """What one run loads: targets (as ``run`` takes them), the discovery pattern and ``-k`` patterns."""

    targets: list[str]
    pattern: str = "test*.py"
    name_patterns: list[str] | None = None
    #: ``time.monotonic()`` when watch received the save that asked for the run (None: the first run).
    saved_at: float | None = None


@dataclasses.dataclass
class Outcome:
    """What the child reported (empty when it was interrupted or died)."""

    status: str = "crashed"  # done | interrupted | crashed | server lost (before any test ran)
    #: test module -> the project files it imports, its own included
    depends: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: targets (module names) that failed to load
    broken: list[str] = dataclasses.field(default_factory=list)
    #: test module -> the targets narrower than the module (a class, a method) that selected its tests
    narrowed: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: modules the child imported that are not the project's
    external: list[str] = dataclasses.field(default_factory=list)
    sys_path: list[str] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Why the server was found lost ("" while it was not): the parent starts a new session before the next run
    lost: str = ""


def run_batch(batch: Batch, session: Session, tree: WatchedTree, *, before: set[str],
              tested: Callable[[], None]) -> Outcome:
    """Load and run the batch, print failures and the closing line; ``before``: the modules loaded when the
    child started; ``tested()`` is called once the tests are over, just before the closing line."""
    recorder = ImportRecorder().install()
    try:
        suite, broken, narrowed = _load(batch)
        modules = sorted({type(t).__module__ for t in iter_tests(suite)} - {__name__, "unittest.loader"})
        runner = TDDTestRunner(verbosity=1, settings=session.settings, show_report=False, closing_line=False)
        counts = runner.run(suite).counts()
    finally:
        recorder.uninstall()
    tested()
    print(closing_line(counts) + _since(batch.saved_at, runner.last_wall), file=sys.stderr, flush=True)
    return Outcome("done", {m: recorder.depends_on(m, tree.is_project_file) for m in modules},
                   broken, narrowed, _external(loaded_after(before), tree), list(sys.path), counts,
                   lost="it stopped or crashed during the run" if session._probe and session._probe.gone else "")


def _since(saved_at: float | None, wall: float) -> str:
    if saved_at is None:
        return f" (first run, tests {wall:.2f} s)"
    return f" ({time.monotonic() - saved_at:.3f} s after the save)"


class _LoadFailure(unittest.TestCase):
    """Stands for a target that could not be loaded: running it shows why."""

    def __init__(self, target: str, text: str) -> None:
        super().__init__("runTest")
        self.target, self.text = target, text

    def id(self) -> str:
        return self.target

    def __str__(self) -> str:
        return f"{self.target} (could not be loaded)"

    def runTest(self) -> None:
        raise PreformattedError(self.text)


def _load(batch: Batch) -> tuple[unittest.TestSuite, list[str], dict[str, list[str]]]:
    """The suite of the batch's targets; a target that cannot be imported becomes a test showing why."""
    suite = unittest.TestSuite()
    broken: list[str] = []
    narrowed: dict[str, list[str]] = {}
    for target in batch.targets:
        try:
            loaded = load_tests([target], batch.pattern, batch.name_patterns)
        except TddkitError as exc:
            loaded = unittest.TestSuite([_LoadFailure(target, f"{exc}\n")])
        except Exception as exc:  # an error of unittest's discovery itself: shown, and watching goes on
            loaded = unittest.TestSuite([_LoadFailure(target, user_traceback(exc))])
        is_dir = os.path.isdir(target)
        for test in iter_tests(loaded):
            if isinstance(test, _LoadFailure) or test.id().startswith(FAILED_IMPORT_ID):
                broken.append(test.id()[len(FAILED_IMPORT_ID):] if is_dir and not isinstance(test, _LoadFailure)
                              else target)
            elif not is_dir and not target.endswith(".py") and target not in sys.modules:
                narrowed.setdefault(type(test).__module__, [])
                if target not in narrowed[type(test).__module__]:
                    narrowed[type(test).__module__].append(target)
        suite.addTests(loaded)
    return suite, sorted(set(broken)), narrowed


def _external(names: list[str], tree: WatchedTree) -> list[str]:
    """The modules among ``names`` that are not the project's (no file in the watched tree)."""
    found: set[str] = set()
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path is None and getattr(module, "__path__", None) is not None:
            continue  # a namespace package: cheap, and perhaps the project's
        if name != "__main__" and (path is None or not tree.is_project_file(os.path.realpath(path))):
            found.add(name)
    return sorted(found)
