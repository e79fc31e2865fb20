"""ForkedRun: a child forked from the warm ``watch`` process that waits, ready, for the batch it will run.

The parent keeps the server, the schema template, the test database and the
third-party imports, and no pool (a pool does not survive fork: its threads
are gone and its sockets would be shared). The child is forked ahead of the
next save: it opens a pool of its own and starts a transaction on each of
its connections (a fresh backend's first statements are slow: its caches are
cold), then waits on a pipe. When the parent sends a batch, the child checks
that its connections still reach the server (one empty statement: a server
that stopped or restarted broke them all; if so it runs nothing and reports
the server lost), imports the project fresh, runs it (``watch.batch``) and
leaves the outcome in a file. Ctrl-C before the closing line ends the run
(``RunInterrupted``); after it, or a second time, it stops watching
(``KeyboardInterrupt``). SIGTERM and SIGHUP end the child at once (the
parent stops watching and cleans up).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import select
import signal
import sys
import tempfile
import time
import traceback
import warnings

import psycopg
from psycopg import pq

from ..errors import Interrupted, RunInterrupted, TddkitError, one_line
from ..isolation.class_transaction import ClassTransaction
from ..session.session import Session, adopt_forked
from .batch import Batch, Outcome, run_batch
from .tree import WatchedTree

#: How long an interrupted child may take to end by itself, then after SIGINT, before SIGKILL.
END_GRACE = (0.5, 2.0)


class ForkedRun:
    """One child process: forked now, given its batch later (``run``), or never (``discard``)."""

    def __init__(self, session: Session, tree: WatchedTree) -> None:
        fd, self.path = tempfile.mkstemp(prefix="tddkit-watch-", suffix=".json")
        os.close(fd)
        batch_in, self._batch_out = os.pipe()
        self._tested_in, tested_out = os.pipe()  # a byte once the tests are over
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():  # the file watcher's thread is never used in the child
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()
        if self.pid == 0:
            os.close(self._batch_out)
            os.close(self._tested_in)
            _child(session, tree, self.path, batch_in, tested_out)
        os.close(batch_in)
        os.close(tested_out)

    def run(self, batch: Batch) -> Outcome:
        """Hand the child its batch and wait for the outcome."""
        try:
            os.write(self._batch_out, json.dumps(dataclasses.asdict(batch)).encode())
            self._close_pipe()
            try:
                status = os.waitpid(self.pid, 0)[1]
            except Interrupted:  # SIGTERM or SIGHUP: stop watching, the child at once
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                _end(self.pid)
                raise
            except KeyboardInterrupt:
                if select.select([self._tested_in], [], [], 0)[0] and os.read(self._tested_in, 1):
                    _end(self.pid, grace=(5.0, 1.0))  # the closing line is out: let it finish, stop watching
                    raise
                _end(self.pid)
                raise RunInterrupted() from None
            with open(self.path, encoding="utf-8") as fh:
                text = fh.read()
            outcome = Outcome(**json.loads(text)) if text else Outcome()
            if not text and os.waitstatus_to_exitcode(status) == 130:
                outcome.status = "interrupted"
            return outcome
        finally:
            self._cleanup()

    def discard(self) -> None:
        """End a child that was given no batch (its pipe closes, so it leaves)."""
        try:
            self._close_pipe()
            _end(self.pid, grace=(5.0, 1.0))
        finally:
            self._cleanup()

    def _close_pipe(self) -> None:
        if self._batch_out >= 0:
            os.close(self._batch_out)
            self._batch_out = -1

    def _cleanup(self) -> None:
        if self._tested_in >= 0:
            os.close(self._tested_in)
            self._tested_in = -1
            os.unlink(self.path)


def _end(pid: int, grace: tuple[float, float] = END_GRACE) -> None:
    """End a child: wait for it, then SIGINT, then SIGKILL; Ctrl-C meanwhile kills it at once. A child
    already reaped (Ctrl-C came just after ``waitpid`` returned) is fine."""
    try:
        for seconds, then in zip(grace, (signal.SIGINT, signal.SIGKILL), strict=True):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
                time.sleep(0.01)
            os.kill(pid, then)
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    except KeyboardInterrupt:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise


def _child(parent: Session, tree: WatchedTree, path: str, batch_in: int, tested_out: int) -> None:
    """The child's whole life: get ready, wait for the batch, run it, write the outcome, ``os._exit``."""
    code, running = 1, False
    session: Session | None = None
    for sig in (signal.SIGTERM, signal.SIGHUP):  # the parent's handlers are the parent's
        signal.signal(sig, signal.SIG_DFL)
    logging.getLogger("psycopg.pool").addFilter(_quiet_reconnects)
    try:
        before = set(sys.modules)
        lost = ""
        try:
            session = adopt_forked(parent)
            _warm_up(session)
        except (psycopg.Error, TddkitError) as exc:  # the server went away meanwhile: said when the batch comes
            lost = one_line(f"could not connect: {exc}")
        data = _read_all(batch_in)
        if not data:  # discarded: the parent had no batch for us
            code = 0
            return
        lost = lost or _connections_lost(session)
        running = True
        if session is None or lost:
            outcome = Outcome("server lost", lost=lost)
        else:
            outcome = run_batch(Batch(**json.loads(data)), session, tree, before=before,
                                tested=lambda: _tested(tested_out))
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(dataclasses.asdict(outcome), fh)
        code = 0
    except KeyboardInterrupt:
        if running:
            print("\ntddkit: run interrupted", file=sys.stderr)
        code = 130
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            if session is not None and session._database is not None:
                session._database.close_pool(timeout=1.0)  # only the pool: the database is the parent's
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _warm_up(session: Session) -> None:
    """Begin and roll back a class transaction on each pooled connection: the first test's connection is then
    one whose backend has run tddkit's statements already."""
    lender = session._lender
    if lender is None:  # no test database to warm (adopt_forked always makes one)
        return
    transactions = [ClassTransaction(lender, name="tddkit watch warm-up")
                    for _ in range(max(session.settings.pool_min_size, 1))]
    try:
        for transaction in transactions:
            transaction.connection()
    finally:
        for transaction in transactions:
            transaction.release()


def _quiet_reconnects(record: logging.LogRecord) -> bool:
    """Drop the tddkit pool's warnings about failed connection attempts: a lost server is said once, by the
    parent (``watch.session``), not every few seconds by the child's pool."""
    args = record.args if isinstance(record.args, tuple) else ()
    return not (str(record.msg).startswith("error connecting in") and args[:1] == ("tddkit",))


def _connections_lost(session: Session | None) -> str:
    """Why the pooled connections no longer reach the server ("" while they do), from one empty statement on
    one of them (a server that stopped or restarted broke them all; a broken one is closed, not given back,
    so the pool does not try to replace it)."""
    pool = session._database.pool if session is not None and session._database is not None else None
    if pool is None:
        return "the child has no pool"
    try:
        conn = pool.getconn()
    except psycopg.Error as exc:
        return one_line(exc)
    try:
        broken = conn.pgconn.exec_(b"").status != pq.ExecStatus.EMPTY_QUERY
        reason = conn.pgconn.get_error_message()
    except psycopg.Error as exc:
        broken, reason = True, str(exc)
    if broken:
        conn.close()
        return "its connections broke: " + (reason.strip().splitlines() or ["?"])[0]
    pool.putconn(conn)
    return ""


def _read_all(fd: int) -> bytes:
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return data
        data += chunk


def _tested(fd: int) -> None:
    """The tests are over: from the closing line on, Ctrl-C is the parent's alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.write(fd, b"1")
