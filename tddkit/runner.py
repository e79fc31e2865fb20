"""TDDTestRunner and TDDTestResult: unittest's text runner, plus per-test metrics.

The result keeps unittest's normal output (dots or ``-v`` lines, failures,
``Ran N tests``) and collects one TestMetrics per test; the runner starts the
database session up front, prints the report at the end and writes JSON or
JUnit XML when asked.
"""

from __future__ import annotations

import os
import time
import unittest
import uuid
from typing import Dict, Iterator, List, Optional, TextIO

from .case import TDDTestCase
from .config import Settings
from .metrics import TestMetrics, now
from . import report as reporting
from .session import close_session, current_session, get_session
from .instruments import tracer
from .templates import schema_cache


class RemoteError(Exception):
    """Stands for a failure that happened in another process; carries its formatted traceback."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def iter_tests(suite: unittest.TestSuite) -> Iterator[unittest.TestCase]:
    """Every test case of a (nested) suite."""
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def _show_progress(stream: TextIO, verbosity: int) -> bool:
    is_tty = getattr(stream, "isatty", lambda: False)()
    return bool(is_tty and verbosity == 1 and not os.environ.get("CI"))


class TDDTestResult(unittest.TextTestResult):
    """A TextTestResult that records the TestMetrics of every test it sees."""

    def __init__(self, stream, descriptions, verbosity, **kwargs) -> None:
        super().__init__(stream, descriptions, verbosity, **kwargs)
        self.test_metrics: List[TestMetrics] = []
        self.details: Dict[str, str] = {}
        self.expected_total = 0
        self.progress = _show_progress(stream, verbosity)
        if self.progress:
            self.dots = False
        self._started = 0.0
        self._current: Optional[TestMetrics] = None
        self._run_started = now()
        self._last_progress = 0.0

    # --- unittest hooks ----------------------------------------------------------------

    def startTest(self, test: unittest.TestCase) -> None:
        self._started = now()
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:
        elapsed = (now() - self._started) * 1000
        super().stopTest(test)
        metrics = test.__dict__.pop("_tddkit_metrics", None) or TestMetrics(test.id(), body_ms=elapsed)
        if not metrics.total_ms:  # already set for a test that ran in a worker
            metrics.total_ms = elapsed
        if metrics.outcome == "unknown":
            metrics.outcome = self._outcome_of(test)
        self.test_metrics.append(metrics)
        if self.progress:
            self._print_progress()

    def _outcome_of(self, test: unittest.TestCase) -> str:
        return getattr(test, "_tddkit_outcome", "passed")

    def _exc_info_to_string(self, err, test) -> str:
        if err[0] is RemoteError:
            return err[1].text
        return super()._exc_info_to_string(err, test)

    def _mark(self, test, outcome: str, message: str = "") -> None:
        """Note a test's outcome, and its traceback or reason (shared with unittest's lists, not copied)."""
        test.__dict__["_tddkit_outcome"] = outcome
        if message:
            self.details[test.id()] = message

    def addSuccess(self, test):
        super().addSuccess(test)
        self._mark(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._mark(test, "failed", self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        if isinstance(test, unittest.TestCase):
            self._mark(test, "error", self.errors[-1][1])
        else:  # a setUpClass/module error: unittest reports it with a placeholder
            self.test_metrics.append(TestMetrics(test.id(), outcome="error"))
            self.details[test.id()] = self.errors[-1][1]

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._mark(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._mark(test, "expected_failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._mark(test, "unexpected_success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._mark(test, "failed" if failed else "error", (self.failures if failed else self.errors)[-1][1])

    def addDuration(self, test, elapsed):  # Python 3.12+
        parent = getattr(super(), "addDuration", None)
        if parent is not None:
            parent(test, elapsed)

    # --- progress ----------------------------------------------------------------------

    def _print_progress(self, final: bool = False) -> None:
        moment = now()
        if not final and moment - self._last_progress < 0.1:
            return
        self._last_progress = moment
        done = len(self.test_metrics)
        total = max(self.expected_total, done)
        bad = len(self.failures) + len(self.errors)
        percent = 100.0 * done / total if total else 100.0
        self.stream.write(f"\r  {done}/{total} tests {percent:5.1f}%  {bad} failed  {moment - self._run_started:6.1f} s")
        if final:
            self.stream.write("\n")
        self.stream.flush()

    def printErrors(self) -> None:
        if self.progress:
            self._print_progress(final=True)
        super().printErrors()

    # --- summary -----------------------------------------------------------------------

    def counts(self) -> Dict[str, int]:
        """passed / failed / errors / skipped over all recorded tests."""
        tally = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
        for metrics in self.test_metrics:
            key = {"passed": "passed", "expected_failure": "passed", "failed": "failed",
                   "unexpected_success": "failed", "error": "errors", "skipped": "skipped"}.get(metrics.outcome)
            if key:
                tally[key] += 1
        return tally


class TDDTestRunner(unittest.TextTestRunner):
    """A TextTestRunner that starts the database session and prints the metrics report."""

    resultclass = TDDTestResult

    def __init__(
        self,
        stream: Optional[TextIO] = None,
        *,
        settings: Optional[Settings] = None,
        show_report: bool = True,
        json_path: Optional[str] = None,
        junit_path: Optional[str] = None,
        slowest: int = 5,
        workers: int = 1,
        trace_memory: bool = False,
        closing_line: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(stream, **kwargs)
        self.settings = settings
        self.show_report = show_report
        self.json_path = json_path
        self.junit_path = junit_path
        self.slowest = slowest
        self.workers = workers
        self.trace_memory = trace_memory
        self.closing_line = closing_line
        self.last_wall = 0.0
        self.last_report: Optional[reporting.Report] = None

    def run(self, test) -> TDDTestResult:  # type: ignore[override]
        tests = list(iter_tests(test)) if isinstance(test, unittest.TestSuite) else [test]
        opened_here = False
        if any(isinstance(t, TDDTestCase) for t in tests) and current_session() is None:
            session = get_session(self.settings, with_database=self.workers <= 1)
            opened_here = True
            self.stream.writeln(f"tddkit: {describe_session(session)}")
        self._expected_total = len(tests)
        self._cache_before = schema_cache.stats()
        run_id = None
        if self.workers > 1:
            test, run_id = self._parallel_suite(tests)
        if self.trace_memory:
            tracer.start()
        started = time.perf_counter()
        try:
            result: TDDTestResult = super().run(test)  # type: ignore[assignment]
            wall = time.perf_counter() - started
            self._finish(result, wall)
        finally:
            if self.trace_memory:
                tracer.stop()
            if run_id:
                from .parallel import drop_worker_databases

                drop_worker_databases(test.server_dsn, run_id)
            if opened_here:
                close_session()
        return result

    def _parallel_suite(self, tests: List[unittest.TestCase]):
        """The tests as a ParallelSuite for ``self.workers`` processes, and the run id naming their databases."""
        from .parallel import ParallelSuite, group_by_class, load_durations

        session = get_session(self.settings, with_database=False)
        settings = session.settings
        durations = load_durations(settings.resolve(settings.durations_file)) if settings.durations_file else {}
        run_id = f"tddkit_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        suite = ParallelSuite(group_by_class(tests), self.workers, settings, session.server_dsn, durations, run_id)
        return suite, run_id

    def _makeResult(self) -> TDDTestResult:
        result = super()._makeResult()
        result.expected_total = getattr(self, "_expected_total", 0)
        return result  # type: ignore[return-value]

    def _finish(self, result: TDDTestResult, wall: float) -> None:
        counts = result.counts()
        summary = reporting.RunSummary(tests=len(result.test_metrics), wall_seconds=wall, **counts)
        settings = self.settings or (current_session().settings if current_session() else None)
        if settings is None:
            from .config import load_settings

            settings = load_settings()
        report = reporting.build_report(result.test_metrics, summary, settings, slowest=self.slowest,
                                        schema_cache=schema_cache.since(self._cache_before),
                                        parallel=parallel_stats(result.test_metrics, wall, self.workers))
        self.last_report = report
        if self.show_report:
            self.stream.writeln()
            self.stream.writeln(reporting.format_report(report))
        if self.json_path:
            reporting.write_json(self.json_path, report, result.test_metrics)
        if self.junit_path:
            reporting.write_junit_xml(self.junit_path, result.test_metrics, summary, details=result.details)
        self.last_wall = wall
        if self.closing_line:
            self.stream.writeln(closing_line(counts))
        self.stream.flush()


def closing_line(counts: Dict[str, int]) -> str:
    """``tddkit: N passed, N failed[, N skipped]``: the line CI log readers look for."""
    line = f"tddkit: {counts['passed']} passed, {counts['failed'] + counts['errors']} failed"
    return line + (f", {counts['skipped']} skipped" if counts["skipped"] else "")


def parallel_stats(tests: List[TestMetrics], wall: float, workers: int) -> Optional[Dict[str, float]]:
    """Wall time vs the summed test time of a parallel run: speedup and efficiency."""
    if workers <= 1 or wall <= 0:
        return None
    classes = {id(m.class_metrics): m.class_metrics.setup_ms for m in tests if m.class_metrics}
    serial = (sum(m.total_ms for m in tests) + sum(classes.values())) / 1000
    speedup = serial / wall
    return {"workers": workers, "wall_seconds": wall, "sum_test_seconds": serial,
            "speedup": speedup, "efficiency": 100.0 * speedup / workers}


def describe_session(session) -> str:
    """One line: which server and database the session uses, and what starting it cost."""
    db = session.database
    where = f"database {db.name}; {db.describe_schema()}" if db else session.template.describe()
    return f"{session.server_origin}; {where}; ready in {session.startup_seconds * 1000:.0f} ms"
