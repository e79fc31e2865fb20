"""ParallelSuite: a suite that runs its test classes in worker processes and replays their results here.

Workers are forked after the server and the schema template exist; each
clones its own database from the template, so workers never contend on rows
or locks. The suite hands out classes longest first (see ``sharding``),
receives every test's outcome, traceback and metrics, and replays them on the
result it was given: one unittest summary, one report; the runner never knows
the tests ran elsewhere. A worker that dies is reported as an error on the
test it was running; the rest of its class goes back in the queue for another
worker. The suite drops its workers' databases when it ends, also when a
signal stops the run (the workers are killed if they do not exit at once).
Workers die with the parent even when it is killed by SIGKILL; their
databases are then dropped by the next run (see ``ownership``).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
import unittest
import uuid
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from .._compat import error_holder, writeln_stream
from ..config.settings import Settings
from ..errors import ConfigError
from ..measure.metrics import ClassMetrics, TestMetrics, metrics_from_dict, metrics_to_dict
from ..server.processes import describe_exit, die_with_parent
from ..session.admin import connect_admin
from ..session.ownership import drop_database, marked_databases_like, worker_database_name
from ..session.template import TemplateResult
from ..testcase import interrupts
from ..testcase.runner import PreformattedError, TDDTestResult
from .sharding import Group, keep_resources_together, longest_first

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext, ForkProcess

    from _typeshed import OptExcInfo

#: Seconds a worker has to exit after SIGTERM before it is killed.
STOP_SECONDS = 2.0


# --- the worker ----------------------------------------------------------------------------------

class WorkerResult(TDDTestResult):
    """Sends each finished test to the parent instead of printing it."""

    def __init__(self, channel: Connection) -> None:
        super().__init__(writeln_stream(open(os.devnull, "w")), False, 0)
        self.channel = channel

    def startTest(self, test: unittest.TestCase) -> None:
        self.channel.send(("start", test.id()))
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        self.catch_up()  # the parent hears of each test as it ends (it names the test a crashed worker ran)

    def record(self, metrics: TestMetrics) -> None:
        """Send a finished test (or a class or module fixture error) to the parent; keep nothing."""
        self.channel.send(("result", metrics.test_id, metrics_to_dict(metrics),
                           self.details.pop(metrics.test_id, "")))


def _worker_main(channel: Connection, tests: list[unittest.TestCase], settings: Settings,
                 template: TemplateResult, parent: tuple[int, bool]) -> None:
    """A worker: its own database, then classes from the parent until told to stop."""
    interrupts.reset_in_child()  # the parent handles the signals of the run and stops us
    die_with_parent(parent[0], forked_on_main_thread=parent[1])  # even if it is killed by SIGKILL
    from ..session.session import close_session, get_session

    code = 0
    try:
        get_session(settings, template=template)
        result = WorkerResult(channel)
        while True:
            channel.send(("ready",))
            unit = channel.recv()
            if unit is None:
                break
            unittest.TestSuite(tests[i] for i in unit)(result)
    except BaseException as exc:  # report a worker that cannot start at all
        channel.send(("fatal", f"{type(exc).__name__}: {exc}"))
        code = 1
    finally:
        close_session()
        channel.close()
        os._exit(code)


# --- the parent ----------------------------------------------------------------------------

@dataclasses.dataclass
class _Worker:
    index: int
    process: ForkProcess
    channel: Connection
    unit: list[int] = dataclasses.field(default_factory=list)
    done: set[str] = dataclasses.field(default_factory=set)
    running: str | None = None
    started: float = 0.0  # when the running test started
    overdue: bool = False  # stopped: its test ran far past test_timeout (stuck where the timer cannot reach)


class ParallelSuite(unittest.BaseTestSuite):
    """Runs its test classes in ``workers`` processes; results are replayed on the result it is run with."""

    def __init__(self, groups: list[Group], *, workers: int, settings: Settings, server_dsn: str,
                 template: TemplateResult, durations: dict[str, float]) -> None:
        tests = [t for g in groups for t in g]
        super().__init__(tests)
        self.tests = tests
        index = {id(t): i for i, t in enumerate(tests)}
        self.workers = max(1, min(workers, len(groups)))
        units = keep_resources_together(longest_first(groups, durations), self.workers)
        self.queue = [[index[id(t)] for t in g] for _, g in units]
        self.settings = settings
        self.server_dsn = server_dsn
        self.template = template
        self.run_id = f"tddkit_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.by_id = {t.id(): t for t in tests}
        self.classes: dict[tuple[int, str], ClassMetrics] = {}
        self.fatal: list[str] = []
        self._next_index = 0

    def _worker_settings(self, index: int) -> Settings:
        return dataclasses.replace(self.settings, dsn=self.server_dsn,
                                   database=worker_database_name(self.run_id, index), rebuild_schema=False)

    def _spawn(self, context: ForkContext) -> _Worker:
        index = self._next_index
        self._next_index += 1
        parent_end, child_end = context.Pipe()
        parent = (os.getpid(), threading.current_thread() is threading.main_thread())
        process = context.Process(target=_worker_main, name=f"tddkit-worker-{index}",
                                  args=(child_end, self.tests, self._worker_settings(index), self.template, parent))
        process.start()
        child_end.close()
        return _Worker(index, process, parent_end)

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:
        if isinstance(result, TDDTestResult):
            result.workers = self.workers
        context = multiprocessing.get_context("fork")
        live: list[_Worker] = []
        try:
            live.extend(self._spawn(context) for _ in range(self.workers))
            while live:
                ready = wait([w.channel for w in live] + [w.process.sentinel for w in live],
                             timeout=0.5 if self.settings.test_timeout else None)
                self._stop_overdue(live)
                for worker in list(live):
                    if worker.channel in ready or worker.process.sentinel in ready:
                        if not self._serve(worker, result):
                            live.remove(worker)
                            self._after_exit(worker, result, live, context)
                if result.shouldStop:
                    break
        finally:
            with interrupts.deferred():  # Ctrl-C again must not leave workers or databases behind
                self._stop(live)
        return result

    def _stop(self, live: list[_Worker]) -> None:
        """Stop the workers still running (SIGTERM, then SIGKILL after a moment), then drop their databases."""
        for worker in live:
            worker.process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for worker in live:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.channel.close()
        self.drop_worker_databases()

    def _stop_overdue(self, live: list[_Worker]) -> None:
        """Kill a worker whose test outlived twice test_timeout (+1 s): its timer could not stop it."""
        limit = 2 * self.settings.test_timeout + 1
        for worker in live:
            if worker.running and self.settings.test_timeout and time.monotonic() - worker.started > limit:
                worker.overdue = True
                worker.process.kill()

    def _serve(self, worker: _Worker, result: unittest.TestResult) -> bool:
        """Handle what a worker sent; False once it has exited."""
        while True:
            try:
                if not worker.channel.poll():
                    return worker.process.is_alive() or worker.channel.poll()
                message = worker.channel.recv()
            except (EOFError, OSError):
                return False
            kind = message[0]
            if kind == "ready":
                worker.unit, worker.done = (self.queue.pop(0), set()) if self.queue and not result.shouldStop \
                    else ([], set())
                worker.channel.send(worker.unit or None)
            elif kind == "start":
                worker.running, worker.started = message[1], time.monotonic()
            elif kind == "result":
                self._replay(worker, result, *message[1:])
            elif kind == "fatal":
                self.fatal.append(f"worker {worker.index}: {message[1]}")

    def _replay(self, worker: _Worker, result: unittest.TestResult, test_id: str, data: dict[str, Any],
                details: str) -> None:
        metrics = metrics_from_dict(data, self.classes, worker.index)
        test = self.by_id.get(test_id)
        if test is not None:
            worker.done.add(test_id)
            worker.running = None
        replay(result, test, test_id, metrics, details)

    def _after_exit(self, worker: _Worker, result: unittest.TestResult, live: list[_Worker],
                    context: ForkContext) -> None:
        """A worker ended: report a crash on its running test and requeue the rest of its class."""
        worker.process.join(10)
        code = worker.process.exitcode
        remaining = [i for i in worker.unit if self.tests[i].id() not in worker.done]
        if worker.running is not None:
            why = f"was stopped after {time.monotonic() - worker.started:.1f} s, far past test_timeout = " \
                f"{self.settings.test_timeout:g} s (the test is stuck where its timer cannot reach it)" \
                if worker.overdue else describe_exit(code)
            text = f"tddkit worker {worker.index} {why} while running this test; the run went on without it\n"
            replay(result, self.by_id[worker.running], worker.running,
                   TestMetrics(worker.running, outcome="error"), text)
            remaining = [i for i in remaining if self.tests[i].id() != worker.running]
        if remaining:
            self.queue.insert(0, remaining)
        if self.queue and not self.fatal and not result.shouldStop:
            live.append(self._spawn(context))
        elif self.queue and self.fatal:
            raise ConfigError(f"parallel workers could not start: {self.fatal[0]}")

    def drop_worker_databases(self) -> None:
        """Drop the databases this run's workers made (normally they drop their own)."""
        with connect_admin(self.server_dsn) as admin:
            for name in marked_databases_like(admin, f"{self.run_id}\\_w%"):
                drop_database(admin, name)


def replay(result: unittest.TestResult, test: unittest.TestCase | None, test_id: str, metrics: TestMetrics,
           details: str) -> None:
    """Report a test that ran elsewhere on ``result``, as if it had run here."""
    # unittest formats an exception that was never raised (no traceback); typeshed's OptExcInfo wants one
    err: OptExcInfo = (PreformattedError, PreformattedError(details), None)  # type: ignore[assignment]
    if test is None:  # a class or module fixture error reported by its description
        result.addError(error_holder(test_id), err)
        return
    result.startTest(test)
    add_metrics = getattr(result, "addMetrics", None)
    if add_metrics is not None:
        add_metrics(test, metrics)
    outcome = metrics.outcome
    if outcome == "failed":
        result.addFailure(test, err)
    elif outcome == "error":
        result.addError(test, err)
    elif outcome == "skipped":
        result.addSkip(test, details)
    elif outcome == "expected_failure":
        result.addExpectedFailure(test, err)
    elif outcome == "unexpected_success":
        result.addUnexpectedSuccess(test)
    else:
        result.addSuccess(test)
    result.stopTest(test)
