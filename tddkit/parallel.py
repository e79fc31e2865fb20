"""Parallel runs across worker processes, and duration-balanced shards across CI machines.

Tests move as whole classes (their setUpClass/setUpTestData run once, in one
worker). Workers are forked after the server and the schema template exist;
each clones its own database from the template, so workers never contend on
rows or locks. The parent hands out classes longest first (durations recorded
by earlier runs; unknown classes get the mean), receives every test's outcome,
traceback and metrics, and replays them on its own result: one unittest
summary, one report. A worker that dies is reported as an error on the test it
was running; the rest of its class goes back in the queue for another worker.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import unittest
from multiprocessing.connection import Connection, wait
from unittest.runner import _WritelnDecorator
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .config import Settings
from .errors import ConfigError
from .ownership import databases_like, drop_database
from .metrics import ClassMetrics, CustomMetric, TestMetrics
from .resources import resources_of
from .server import describe_exit
from .runner import RemoteError, TDDTestResult

Group = List[unittest.TestCase]


# --- grouping, durations, shards --------------------------------------------------------

def _class_key(test: unittest.TestCase) -> str:
    return f"{type(test).__module__}.{type(test).__qualname__}"


def group_by_class(tests: Iterable[unittest.TestCase]) -> List[Group]:
    """Tests grouped by class, in first-seen order."""
    groups: Dict[str, Group] = {}
    for test in tests:
        groups.setdefault(_class_key(test), []).append(test)
    return list(groups.values())


def load_durations(path: Path) -> Dict[str, float]:
    """``{test_id: seconds}`` from earlier runs ({} when the file is missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def save_durations(path: Path, metrics: Sequence[TestMetrics]) -> None:
    """Merge this run's test durations into ``path`` (atomically)."""
    durations = load_durations(path)
    for m in metrics:
        if m.outcome != "skipped" and m.total_ms > 0:
            durations[m.test_id] = round(m.total_ms / 1000, 6)
        if m.class_metrics is not None:
            durations[f"{m.class_metrics.class_name}::setup"] = round(m.class_metrics.setup_ms / 1000, 6)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(durations, indent=1, sort_keys=True))
    os.replace(tmp, path)


def group_weight(group: Group, durations: Dict[str, float], default: float) -> float:
    """Expected seconds of a class: its tests plus its class setup."""
    tests = sum(durations.get(t.id(), default) for t in group)
    return tests + durations.get(f"{_class_key(group[0])}::setup", 0.0)


def longest_first(groups: List[Group], durations: Dict[str, float]) -> List[Tuple[float, Group]]:
    """Groups with their expected seconds, longest first (ties by name, so the order is stable)."""
    known = [v for k, v in durations.items() if not k.endswith("::setup")]
    default = sum(known) / len(known) if known else 0.001
    weighted = [(group_weight(g, durations, default), g) for g in groups]
    return sorted(weighted, key=lambda wg: (-wg[0], _class_key(wg[1][0])))


def keep_resources_together(weighted: List[Tuple[float, Group]], workers: int) -> List[Tuple[float, Group]]:
    """Merge classes that share a named resource into one unit, where the unit stays within
    a fair share of the work (total / workers): they would wait for each other anyway."""
    fair_share = sum(w for w, _ in weighted) / max(workers, 1)
    units: List[List[Any]] = []
    home: Dict[str, int] = {}
    for weight, group in weighted:
        names = {name for test in group for name in resources_of(test)}
        target = next((home[n] for n in sorted(names) if n in home and units[home[n]][0] + weight <= fair_share), None)
        if target is None:
            units.append([weight, list(group)])
            target = len(units) - 1
        else:
            units[target][0] += weight
            units[target][1].extend(group)
        for name in names:
            home.setdefault(name, target)
    return sorted(((w, g) for w, g in units), key=lambda wg: -wg[0])


def parse_shard(text: str) -> Tuple[int, int]:
    """``'K/N'`` -> (K, N) with 1 <= K <= N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like K/N (e.g. 2/4), not {text!r}") from None
    if not 1 <= k <= n:
        raise ConfigError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard(groups: List[Group], durations: Dict[str, float], k: int, n: int) -> List[Group]:
    """The K-th of N duration-balanced shards: longest class first to the least-loaded shard."""
    loads = [0.0] * n
    chosen: List[Group] = []
    for weight, group in longest_first(groups, durations):
        target = min(range(n), key=lambda i: (loads[i], i))
        loads[target] += weight
        if target == k - 1:
            chosen.append(group)
    return chosen


def parse_parallel(text: str) -> int:
    """``'auto'`` (the CPU count) or a positive integer."""
    if text == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"--parallel takes a positive number of workers or 'auto', not {text!r}")
    return value


# --- events sent from workers to the parent ----------------------------------------------

def metrics_to_dict(m: TestMetrics) -> Dict[str, Any]:
    data = dataclasses.asdict(m)
    data["class_metrics"] = dataclasses.asdict(m.class_metrics) if m.class_metrics else None
    return data


def metrics_from_dict(data: Dict[str, Any], classes: Dict[Tuple[int, str], ClassMetrics], worker: int) -> TestMetrics:
    data = dict(data)
    class_data = data.pop("class_metrics")
    data["custom"] = [CustomMetric(**c) for c in data.get("custom", [])]
    metrics = TestMetrics(**data)
    if class_data:
        key = (worker, class_data["class_name"])
        metrics.class_metrics = classes.setdefault(key, ClassMetrics(**class_data))
    return metrics


class WorkerResult(TDDTestResult):
    """Sends each finished test to the parent instead of printing it."""

    def __init__(self, channel: Connection) -> None:
        super().__init__(_WritelnDecorator(open(os.devnull, "w")), False, 0)
        self.channel = channel

    def startTest(self, test):
        self.channel.send(("start", test.id()))
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self._send(self.test_metrics[-1])

    def addError(self, test, err):
        super().addError(test, err)
        if not isinstance(test, unittest.TestCase):  # class or module fixture error
            self._send(self.test_metrics[-1])

    def _send(self, metrics: TestMetrics) -> None:
        self.channel.send(("result", metrics.test_id, metrics_to_dict(metrics),
                           self.details.get(metrics.test_id, "")))


def _worker_main(index: int, channel: Connection, tests: List[unittest.TestCase], settings: Settings) -> None:
    """A worker: its own database, then classes from the parent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    from .session import close_session, get_session

    code = 0
    try:
        get_session(settings)
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
    process: Any
    channel: Connection
    unit: List[int] = dataclasses.field(default_factory=list)
    done: set = dataclasses.field(default_factory=set)
    running: Optional[str] = None


class ParallelSuite:
    """A callable suite that runs its classes in worker processes and replays results locally."""

    def __init__(self, groups: List[Group], workers: int, settings: Settings, server_dsn: str,
                 durations: Dict[str, float], run_id: str) -> None:
        self.tests = [t for g in groups for t in g]
        index = {id(t): i for i, t in enumerate(self.tests)}
        self.workers = max(1, min(workers, len(groups)))
        units = keep_resources_together(longest_first(groups, durations), self.workers)
        self.queue = [[index[id(t)] for t in g] for _, g in units]
        self.settings = settings
        self.server_dsn = server_dsn
        self.run_id = run_id
        self.by_id = {t.id(): t for t in self.tests}
        self.classes: Dict[Tuple[int, str], ClassMetrics] = {}
        self.fatal: List[str] = []
        self._next_index = 0

    def countTestCases(self) -> int:
        return len(self.tests)

    def __iter__(self):
        return iter(self.tests)

    def _worker_settings(self, index: int) -> Settings:
        return dataclasses.replace(self.settings, dsn=self.server_dsn, database=f"{self.run_id}_w{index}",
                                   rebuild_schema=False)

    def _spawn(self, context) -> _Worker:
        index = self._next_index
        self._next_index += 1
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_worker_main, name=f"tddkit-worker-{index}",
                                  args=(index, child_end, self.tests, self._worker_settings(index)))
        process.start()
        child_end.close()
        return _Worker(index, process, parent_end)

    def __call__(self, result) -> Any:
        context = multiprocessing.get_context("fork")
        live = [self._spawn(context) for _ in range(self.workers)]
        try:
            while live:
                ready = wait([w.channel for w in live] + [w.process.sentinel for w in live])
                for worker in list(live):
                    if worker.channel in ready or worker.process.sentinel in ready:
                        if not self._serve(worker, result):
                            live.remove(worker)
                            self._after_exit(worker, result, live, context)
                if result.shouldStop:
                    break
        finally:
            for worker in live:
                worker.process.terminate()
            for worker in live:
                worker.process.join(10)
        return result

    def _serve(self, worker: _Worker, result) -> bool:
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
                worker.running = message[1]
            elif kind == "result":
                self._replay(worker, result, *message[1:])
            elif kind == "fatal":
                self.fatal.append(f"worker {worker.index}: {message[1]}")

    def _replay(self, worker: _Worker, result, test_id: str, data: Dict[str, Any], details: str) -> None:
        metrics = metrics_from_dict(data, self.classes, worker.index)
        test = self.by_id.get(test_id)
        if test is not None:
            worker.done.add(test_id)
            worker.running = None
        replay(result, test, test_id, metrics, details)

    def _after_exit(self, worker: _Worker, result, live: List[_Worker], context) -> None:
        """A worker ended: report a crash on its running test and requeue the rest of its class."""
        worker.process.join(10)
        code = worker.process.exitcode
        remaining = [i for i in worker.unit if self.tests[i].id() not in worker.done]
        if worker.running is not None:
            why = describe_exit(code)
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


def replay(result, test: Optional[unittest.TestCase], test_id: str, metrics: TestMetrics, details: str) -> None:
    """Report a test that ran elsewhere on ``result``, as if it had run here."""
    if test is None:  # a class or module fixture error reported by its description
        test = unittest.suite._ErrorHolder(test_id)  # type: ignore[attr-defined]
        result.addError(test, (RemoteError, RemoteError(details), None))
        return
    test.__dict__["_tddkit_metrics"] = metrics
    result.startTest(test)
    outcome = metrics.outcome
    err = (RemoteError, RemoteError(details), None)
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


def drop_worker_databases(server_dsn: str, run_id: str) -> None:
    """Drop the databases this run's workers made (normally they drop their own)."""
    from .database import connect_admin

    with connect_admin(server_dsn) as admin:
        for name in databases_like(admin, f"{run_id}\\_w%"):
            drop_database(admin, name)
