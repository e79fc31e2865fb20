"""``python -m tddkit watch``: run the tests, then again on every save, each run forked from a warm process.

This process keeps the server, the schema template, the test database and
the third-party imports, and imports none of the project's code; each run is
a child forked from it (``forked_run``) that imports the project fresh. A
saved Python file re-runs the test modules whose imports, recorded when they
last loaded, include it (every target when the file is unknown, deleted, or
with ``--all``); a changed schema file, ``schema_inputs`` file or schema hook
rebuilds the template and re-runs everything. Changes are gathered by
``watchfiles``: a run starts once no change arrived for ``STEP_MS``, so a
file saved twice within a few milliseconds runs once, and runs never overlap
(what is saved during a run is run next). Ctrl-C during a run ends the run;
Ctrl-C while waiting stops watching; SIGTERM and SIGHUP stop watching with
exit code 128 + the signal. A lost server is replaced (``watch.session``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg

from ..config.settings import describe_config, load_settings
from ..errors import RunInterrupted, ServerError, TddkitError, one_line
from ..exit_codes import EXIT_OK
from ..session.session import Session, get_session
from ..testcase import interrupts
from ..testcase.discovery import check_target
from .batch import Batch, Outcome
from .forked_run import ForkedRun
from .schema import WatchedSchema
from .session import end_session, exited_server, reconnect
from .tree import WatchedTree, purge_project_modules

#: A run starts once no change arrived for this long (watchfiles' ``step``; its default is 50 ms).
STEP_MS = 10
#: Changes arriving without a pause are gathered for at most this long (watchfiles' default is 1600 ms).
DEBOUNCE_MS = 300
#: While no change comes, the embedded server is checked this often.
IDLE_CHECK_MS = 1000


def load_watchfiles() -> Any:
    """The ``watchfiles`` module, or a one-line error naming the extra that installs it."""
    try:
        import watchfiles
    except ImportError:
        raise TddkitError("python -m tddkit watch needs the watchfiles library: pip install 'tddkit[watch]'") \
            from None
    return watchfiles


def watch(args: argparse.Namespace) -> int:
    """Start the session, run the targets, then watch until Ctrl-C (exit code 0), SIGTERM or SIGHUP (128 + the
    signal); always stops the server it started."""
    watchfiles = load_watchfiles()
    for target in args.targets:
        check_target(target)  # as ``run`` does: one line, before anything starts
    interrupts.install([signal.SIGTERM, signal.SIGHUP])  # Ctrl-C is handled below: it may end a run only
    settings = load_settings({"dsn": args.dsn}, targets=args.targets)
    roots = [settings.resolve(".")] + [Path(t) if Path(t).is_dir() else Path(t).parent
                                       for t in args.targets if Path(t).exists()]
    tree = WatchedTree(roots, ignore=settings.watch_ignore)
    loop: Watch | None = None
    try:
        session = get_session(settings)
        print(f"tddkit: {describe_config(settings)}", file=sys.stderr)
        print(f"tddkit: {session._describe()}", file=sys.stderr)
        loop = Watch(session, tree, Batch(list(args.targets) or ["."], args.pattern, args.name_patterns),
                     run_all=args.run_all)
        loop.run(watchfiles)
    except KeyboardInterrupt:
        if interrupts.received() is None:
            print("\ntddkit: watch stopped", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third Ctrl-C must not cut the cleanup short
        try:
            if loop is not None:
                loop.close()
        finally:
            end_session()
    interrupts.raise_if_received()  # SIGTERM or SIGHUP: its exit code
    return EXIT_OK


class Watch:
    """The loop: what each change re-runs, the schema, and what the runs taught about imports."""

    def __init__(self, session: Session, tree: WatchedTree, everything: Batch, *, run_all: bool = False) -> None:
        #: None while the server is lost and no new session could start
        self.session: Session | None = session
        self.settings = session.settings
        #: Why the server must be reached again before the next run (a child found its connections broken).
        self.lost: str | None = None
        #: Test databases of earlier sessions left on a server that was away (see ``reconnect``)
        self.leftovers: set[str] = set()
        self.tree = tree
        self.everything = everything
        self.run_all = run_all
        #: test module -> the project files it imports (its own included), from its last load
        self.depends: dict[str, set[str]] = {}
        #: test module -> targets narrower than the module that selected its tests
        self.narrowed: dict[str, list[str]] = {}
        #: targets that failed to load last time: re-run on every change until they load
        self.broken: set[str] = set()
        self._unwarmable: set[str] = set()
        self.schema = WatchedSchema(tree)
        self.config_paths = {os.path.realpath(p) for p in session.settings.config_files}
        #: The child that will run the next batch, forked (and ready) ahead of the save.
        self.child: ForkedRun | None = None

    def run(self, watchfiles: Any) -> None:
        """The first run, then one run per group of changes, until KeyboardInterrupt."""
        if self.session is not None:
            if self.session._database is not None:
                self.session._database.close_pool()  # a pool does not survive fork: each child opens its own
            self.schema.follow(self.session)
        self._run(self.everything)
        while True:
            directories = self.tree.directories()
            ready = _Announce(f"tddkit: watching {', '.join(map(str, self.tree.roots))} ({len(directories)} "
                              "directories); Ctrl-C stops")
            for changes in watchfiles.watch(*directories, watch_filter=self._wanted, debounce=DEBOUNCE_MS,
                                            step=STEP_MS, stop_event=ready, recursive=False,
                                            rust_timeout=IDLE_CHECK_MS, yield_on_timeout=True):
                if not changes:  # a second without changes
                    if exited_server(self.session):
                        self._fork_next()
                elif self.on_changes(changes, watchfiles.Change.added):
                    break  # a new directory: watch it too

    def _wanted(self, change: Any, path: str) -> bool:
        if self.tree.ignores(path):
            return False
        return path.endswith(".py") or path in self.schema.paths or path in self.config_paths or \
            bool(self.settings.schema_inputs) or os.path.isdir(path)

    def on_changes(self, changes: Iterable[Any], added: Any) -> bool:
        """Run what ``changes`` (watchfiles' set of (change, path)) call for; True if a directory was added."""
        saved_at = time.monotonic()  # not the files' mtime: ``mv`` keeps the old one
        paths = sorted({path for _, path in changes})
        new_dirs = any(change == added and os.path.isdir(path) for change, path in changes)
        for path in sorted(self.config_paths.intersection(paths)):
            print(f"tddkit: {path} changed: restart watch to use its new settings", file=sys.stderr)
        rebuilt = self._check_schema(paths)
        code = [p for p in paths if p.endswith(".py")]
        if rebuilt is None or not (code or rebuilt or new_dirs):
            return new_dirs
        for path in code:  # a .pyc checks the source's mtime in whole seconds: two saves in one second
            with contextlib.suppress(OSError, ValueError):  # of a same-sized file would run the stale code
                os.unlink(importlib.util.cache_from_source(path))
        targets = None if rebuilt or new_dirs or self.run_all else self._affected(code)
        names = ", ".join(self._short(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        print(f"\ntddkit: {names} changed: running {'everything' if targets is None else ', '.join(targets)}",
              file=sys.stderr)
        self._run(dataclasses.replace(self.everything, saved_at=saved_at) if targets is None else
                  dataclasses.replace(self.everything, targets=targets, saved_at=saved_at))
        return new_dirs

    def _affected(self, changed: list[str]) -> list[str] | None:
        """The targets to re-run for changed Python files: None for all of them (a file no test module is
        known to import, e.g. a new test module, or a deleted one)."""
        known = set().union(*self.depends.values())
        if any(path not in known or not os.path.exists(path) for path in changed):
            return None
        modules = sorted(m for m, files in self.depends.items() if files.intersection(changed))
        targets = [t for m in modules for t in self.narrowed.get(m, [m])]
        return list(dict.fromkeys(targets + sorted(self.broken)))

    def _short(self, path: str) -> str:
        parts = self.tree.relative_parts(path)
        return "/".join(parts) if parts else path

    def _run(self, batch: Batch) -> None:
        """One run in a forked child (on a new session if the server was lost); learn from its outcome, import
        what it imported, fork the next child."""
        for _ in range(2):  # a child that found the server lost ran nothing: once more, on a new session
            session = self._reach_server()
            if session is None:
                return
            child, self.child = self.child or ForkedRun(session, self.tree), None
            try:
                outcome = child.run(batch)
            except RunInterrupted:
                print("tddkit: run interrupted; still watching (Ctrl-C again stops)", file=sys.stderr)
                break
            self.lost = outcome.lost or None
            if outcome.status == "done":
                self._learn(batch, outcome)
                self._warm(outcome.external)
            elif outcome.status != "server lost":
                print(f"tddkit: the run ended early ({outcome.status}); still watching", file=sys.stderr)
            if outcome.status != "server lost":
                break
        self._fork_next()

    def _fork_next(self) -> None:
        """Fork the child for the next run (on a new session if the server was lost)."""
        session = self._reach_server()
        if session is not None and self.child is None:
            self.child = ForkedRun(session, self.tree)

    def _lost_server(self) -> str | None:
        """Why the server must be reached again before the next run; None while the session is usable."""
        return exited_server(self.session) or self.lost or (None if self.session is not None else "no session")

    def _reach_server(self) -> Session | None:
        """The session to run on: once its server was lost, a new session is started first (one line says so);
        None when none could start."""
        lost = self._lost_server()
        if lost is None:
            return self.session
        self.close()  # the waiting child's connections are to the lost server
        self.session = session = reconnect(self.settings, lost, self.leftovers)
        if session is None:
            self.lost = lost
            return None
        self.lost, self.schema.failed = None, False
        self.schema.follow(session)
        return session

    def close(self) -> None:
        """End the waiting child, if any."""
        child, self.child = self.child, None
        if child is not None:
            child.discard()

    def _learn(self, batch: Batch, outcome: Outcome) -> None:
        if batch.targets == self.everything.targets:
            self.depends, self.narrowed, self.broken = {}, {}, set()
        self.depends.update((module, set(files)) for module, files in outcome.depends.items())
        self.narrowed.update(outcome.narrowed)
        self.broken = (self.broken - set(batch.targets)) | set(outcome.broken)
        for entry in reversed(outcome.sys_path):  # the child's imports found the project through these
            if entry not in sys.path:
                sys.path.insert(0, entry)

    def _warm(self, names: list[str]) -> None:
        """Import third-party modules the run imported, so the next child starts with them loaded."""
        for name in names:
            if name in sys.modules or name in self._unwarmable:
                continue
            try:
                importlib.import_module(name)
            except Exception:  # e.g. a module only importable in the state its importer left
                self._unwarmable.add(name)
        purge_project_modules(self.tree)

    def _check_schema(self, paths: list[str]) -> bool | None:
        """True to run everything (a new template, or a new session), False if the schema is unchanged or not
        touched, None when nothing can run (the error is shown)."""
        if self._lost_server() is None and self.session is not None:
            try:
                return self.schema.check(self.session, paths, before_rebuild=self.close)
            except (ServerError, psycopg.OperationalError) as exc:
                self.lost = one_line(exc)
        return True if self._reach_server() is not None else None


class _Announce:
    """watchfiles' stop event that never stops: its first check, once the watcher is set up, prints a line."""

    def __init__(self, line: str) -> None:
        self.line = line

    def is_set(self) -> bool:
        if self.line:
            print(self.line, file=sys.stderr, flush=True)
            self.line = ""
        return False
