"""One run of ``watch``: a batch of tests in a child forked from the warm watching process.

The parent keeps the server, the schema template, the test database and the
third-party imports; the child opens a pool of its own (a pool does not
survive fork), imports the project's modules fresh, runs the tests, prints
failures and the closing line with the time since the save, and leaves what
it learnt in a JSON file for the parent: the project files each test module
imports, the targets that failed to load, and the other modules it imported
(the parent imports them too, so the next child starts with them loaded).
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import sys
import tempfile
import time
import traceback
import unittest
import warnings
from typing import Dict, List, Optional, Set, Tuple

from .discovery import load_tests
from .errors import TddkitError
from .import_graph import ImportRecorder, loaded_after
from .runner import PreformattedError, TDDTestRunner, closing_line, iter_tests
from .session import Session, adopt_forked
from .watch_tree import WatchedTree

#: How long an interrupted child may take to end by itself, then after SIGINT, before SIGKILL.
END_GRACE = (0.5, 2.0)

_FAILED_IMPORT = "unittest.loader._FailedTest."

#: Where the frames of tddkit's, unittest's and importlib's loading code come from.
_MACHINERY = (os.path.dirname(os.path.abspath(__file__)) + os.sep, os.path.dirname(unittest.__file__) + os.sep,
              "<frozen importlib")


@dataclasses.dataclass
class Batch:
    """What one run loads: targets (as ``run`` takes them), the discovery pattern and ``-k`` patterns."""

    targets: List[str]
    pattern: str = "test*.py"
    name_patterns: Optional[List[str]] = None
    #: ``time.time()`` of the save that asked for the run (None: the first run).
    saved_at: Optional[float] = None


@dataclasses.dataclass
class Outcome:
    """What the child reported (empty when it was interrupted or died)."""

    status: str = "crashed"  # done | interrupted | crashed
    #: test module -> the project files it imports, its own included
    depends: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
    #: targets (module names) that failed to load
    broken: List[str] = dataclasses.field(default_factory=list)
    #: test module -> the targets narrower than the module (a class, a method) that selected its tests
    narrowed: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
    #: modules the child imported that are not the project's
    external: List[str] = dataclasses.field(default_factory=list)
    sys_path: List[str] = dataclasses.field(default_factory=list)
    counts: Dict[str, int] = dataclasses.field(default_factory=dict)


class RunInterrupted(Exception):
    """Ctrl-C ended the run (not the watch)."""


def run_forked(batch: Batch, session: Session, tree: WatchedTree) -> Outcome:
    """Run ``batch`` in a forked child and return its outcome; Ctrl-C ends the child (RunInterrupted),
    a second Ctrl-C while it ends raises KeyboardInterrupt."""
    fd, path = tempfile.mkstemp(prefix="tddkit-watch-", suffix=".json")
    os.close(fd)
    tested, tested_in_child = os.pipe()  # a byte once the tests are over: Ctrl-C then stops watching
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        with warnings.catch_warnings():  # the file watcher's thread is never used in the child
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(tested)
            _child(batch, session, tree, path, tested_in_child)
        os.close(tested_in_child)
        try:
            status = os.waitpid(pid, 0)[1]
        except KeyboardInterrupt:
            if select.select([tested], [], [], 0)[0] and os.read(tested, 1):
                _end(pid, grace=(5.0, 1.0))  # the closing line is out: let the child finish, stop watching
                raise
            _end(pid)
            raise RunInterrupted() from None
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        outcome = Outcome(**json.loads(text)) if text else Outcome()
        if not text and os.waitstatus_to_exitcode(status) == 130:
            outcome.status = "interrupted"
        return outcome
    finally:
        os.close(tested)
        os.unlink(path)


def _end(pid: int, grace: Tuple[float, float] = END_GRACE) -> None:
    """End an interrupted child: wait for it, then SIGINT, then SIGKILL; a second Ctrl-C kills it at once."""
    try:
        for seconds, then in zip(grace, (signal.SIGINT, signal.SIGKILL)):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
                time.sleep(0.01)
            os.kill(pid, then)
        os.waitpid(pid, 0)
    except KeyboardInterrupt:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise


def _child(batch: Batch, parent: Session, tree: WatchedTree, path: str, tested: int) -> None:
    """The child's whole life: run the batch, write the outcome, leave through ``os._exit``."""
    code = 1
    session: Optional[Session] = None
    try:
        before = set(sys.modules)
        recorder = ImportRecorder().install()
        session = adopt_forked(parent)
        suite, broken, narrowed = _load(batch)
        modules = sorted({type(t).__module__ for t in iter_tests(suite)} - {__name__, "unittest.loader"})
        runner = TDDTestRunner(verbosity=1, settings=session.settings, show_report=False, closing_line=False)
        counts = runner.run(suite).counts()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # from the closing line on, Ctrl-C is for the parent
        os.write(tested, b"1")
        print(closing_line(counts) + _since(batch.saved_at, runner.last_wall), file=sys.stderr, flush=True)
        recorder.uninstall()
        outcome = Outcome("done", {m: recorder.depends_on(m, tree.is_project_file) for m in modules},
                          broken, narrowed, _external(loaded_after(before), tree), list(sys.path), counts)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(dataclasses.asdict(outcome), fh)
        code = 0
    except KeyboardInterrupt:
        print("\ntddkit: run interrupted", file=sys.stderr)
        code = 130
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            if session is not None and session.database is not None:
                session.database.close_pool(timeout=1.0)  # only the pool: the database is the parent's
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _since(saved_at: Optional[float], wall: float) -> str:
    if saved_at is None:
        return f" (first run, tests {wall:.2f} s)"
    return f" ({time.time() - saved_at:.3f} s after the save)"


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


def _load(batch: Batch) -> Tuple[unittest.TestSuite, List[str], Dict[str, List[str]]]:
    """The suite of the batch's targets; a target that cannot be imported becomes a test showing why."""
    suite = unittest.TestSuite()
    broken: List[str] = []
    narrowed: Dict[str, List[str]] = {}
    for target in batch.targets:
        try:
            loaded = load_tests([target], batch.pattern, batch.name_patterns)
        except TddkitError as exc:
            loaded = unittest.TestSuite([_LoadFailure(target, f"{exc}\n")])
        except Exception:  # a SyntaxError or NameError while importing: shown, and watching goes on
            loaded = unittest.TestSuite([_LoadFailure(target, _import_error())])
        is_dir = os.path.isdir(target)
        for test in iter_tests(loaded):
            if isinstance(test, _LoadFailure) or test.id().startswith(_FAILED_IMPORT):
                broken.append(test.id()[len(_FAILED_IMPORT):] if is_dir and not isinstance(test, _LoadFailure)
                              else target)
            elif not is_dir and not target.endswith(".py") and target not in sys.modules:
                narrowed.setdefault(type(test).__module__, [])
                if target not in narrowed[type(test).__module__]:
                    narrowed[type(test).__module__].append(target)
        suite.addTests(loaded)
    return suite, sorted(set(broken)), narrowed


def _import_error() -> str:
    """The exception being handled, formatted with the project's frames only (not the loaders')."""
    exc_type, exc, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if not f.filename.startswith(_MACHINERY)]
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + \
        "".join(traceback.format_exception_only(exc_type, exc))


def _external(names: List[str], tree: WatchedTree) -> List[str]:
    """The modules among ``names`` that are not the project's (no file in the watched tree)."""
    found: Set[str] = set()
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path is None and getattr(module, "__path__", None) is not None:
            continue  # a namespace package: cheap, and perhaps the project's
        if name != "__main__" and (path is None or not tree.is_project_file(os.path.realpath(path))):
            found.add(name)
    return sorted(found)
