"""TDDTestRunner and TDDTestResult: unittest's text runner, plus per-test metrics.

The result keeps unittest's normal output (dots or ``-v`` lines, failures, ``Ran N tests``) and records one
TestMetrics per test in compact columns (``RunRecords``): TDDTestCase hands its meter's record over with
``addMetrics``; other tests get one timed whole by a meter. A test is recorded while the next one is rolled back
(``catch_up``: the process waits for the server then anyway), the last when the run ends, and its record goes to the
result's sinks then: the JSON and JUnit XML writers the runner sets up when asked, which write as the run goes. The
runner prints the report at the end and completes those files. It does not start or close the database session (the
CLI does, or the tests start it lazily) and knows nothing of parallel workers (a parallel run is a suite that replays
its workers' results here).
"""

from __future__ import annotations

import os
import time
import unittest
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ..config.settings import Settings
from ..isolation.temp_tables import schema_cache
from ..measure.instruments import tracer
from ..measure.meter import now, timed_whole
from ..measure.metrics import TestMetrics
from ..measure.records import RunRecords
from ..session.session import current_session

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

    from ..reporting.json_stream import JsonStream
    from ..reporting.junit import JUnitStream
    from ..reporting.report import Report


class PreformattedError(Exception):
    """Stands for a failure whose traceback was formatted elsewhere (another process); carries the text."""

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


_OUTCOME_COUNTER = {"passed": "passed", "expected_failure": "passed", "failed": "failed",
                    "unexpected_success": "failed", "error": "errors", "skipped": "skipped"}


class Sink(Protocol):
    """Takes each test's record once it has ended (``catch_up``), with its traceback or skip reason ("": none)."""

    def add(self, tm: TestMetrics, text: str) -> None: ...


class TDDTestResult(unittest.TextTestResult):
    """A TextTestResult that records the TestMetrics of every test it sees."""

    # stream: what unittest hands its results (a writeln wrapper around a text stream)
    def __init__(self, stream: Any, descriptions: bool, verbosity: int, **kwargs: Any) -> None:
        super().__init__(stream, descriptions, verbosity, **kwargs)
        self._records = RunRecords()
        #: The last test's metrics, not in ``records`` yet: kept while the next test's rollback runs (``catch_up``).
        self._pending: TestMetrics | None = None
        #: Tracebacks and skip reasons by test id.
        self.details: dict[str, str] = {}
        #: What else takes each record once its test has ended (the runner's JSON and JUnit XML writers).
        self.sinks: list[Sink] = []
        #: The run's report, once the runner has built it (for the printed report, --json or --junit-xml).
        self.report: Report | None = None
        self.expected_total = 0
        #: Worker processes the tests ran in (set by a parallel suite; 1 when they ran here).
        self.workers = 1
        self.progress = _show_progress(stream, verbosity)
        if self.progress:
            self.dots = False
        self._test_started = 0.0
        self._metrics: TestMetrics | None = None
        self._outcome = "passed"
        self._run_started = now()
        self._last_progress = 0.0

    # --- unittest hooks ----------------------------------------------------------------

    def startTest(self, test: unittest.TestCase) -> None:
        self._test_started, self._metrics, self._outcome = now(), None, "passed"
        super().startTest(test)

    def addMetrics(self, test: unittest.TestCase, metrics: TestMetrics) -> None:
        """Take the metrics a test measured (TDDTestCase calls this after its cleanup)."""
        self._metrics = metrics

    def stopTest(self, test: unittest.TestCase) -> None:
        metrics, self._metrics = self._metrics, None
        if metrics is None:  # not a TDDTestCase, or one that ended before its meter started
            metrics = timed_whole(test.id(), self._test_started)
        super().stopTest(test)
        if metrics.outcome == "unknown":
            metrics.outcome = self._outcome
        self.catch_up()
        self._pending = metrics  # recorded while the next test waits for its rollback, or when read
        if self.progress:
            self._print_progress()

    def stopTestRun(self) -> None:
        self.catch_up()
        super().stopTestRun()

    @property
    def records(self) -> RunRecords:
        """Every test's metrics, in the order the tests ended (a sequence of TestMetrics; also ``test_metrics``)."""
        self.catch_up()
        return self._records

    test_metrics = records

    def record(self, metrics: TestMetrics) -> None:
        """Keep a finished test's metrics and hand them to the sinks."""
        self.catch_up()
        self._records.add(metrics)
        for sink in self.sinks:
            sink.add(metrics, self.details.get(metrics.test_id, ""))

    def catch_up(self) -> None:
        """Record the last test's metrics now, if they wait."""
        metrics, self._pending = self._pending, None
        if metrics is not None:
            self.record(metrics)

    def _exc_info_to_string(self, err: OptExcInfo, test: unittest.TestCase) -> str:
        if isinstance(err[1], PreformattedError):
            return err[1].text
        text: str = super()._exc_info_to_string(err, test)  # type: ignore[misc]  # private, not in typeshed
        return text

    def _mark(self, test: unittest.TestCase, outcome: str, message: str = "") -> None:
        """Note the running test's outcome, and its traceback or reason (shared with unittest's lists)."""
        self._outcome = outcome
        if message:
            self.details[test.id()] = message

    def addFailure(self, test: unittest.TestCase, err: OptExcInfo) -> None:
        super().addFailure(test, err)
        self._mark(test, "failed", self.failures[-1][1])

    def addError(self, test: unittest.TestCase, err: OptExcInfo) -> None:
        super().addError(test, err)
        if isinstance(test, unittest.TestCase):
            self._mark(test, "error", self.errors[-1][1])
        else:  # a setUpClass/module error: unittest reports it with a placeholder
            self.details[test.id()] = self.errors[-1][1]
            self.record(TestMetrics(test.id(), outcome="error"))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._mark(test, "skipped", reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: OptExcInfo) -> None:
        super().addExpectedFailure(test, err)
        self._mark(test, "expected_failure")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._mark(test, "unexpected_success")

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: OptExcInfo | None) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = err[0] is not None and issubclass(err[0], test.failureException)
            self._mark(test, "failed" if failed else "error", (self.failures if failed else self.errors)[-1][1])

    # --- progress ----------------------------------------------------------------------

    def _print_progress(self, final: bool = False) -> None:
        moment = now()
        if not final and moment - self._last_progress < 0.1:
            return
        self._last_progress = moment
        done = len(self._records) + (self._pending is not None)
        total = max(self.expected_total, done)
        bad = len(self.failures) + len(self.errors)
        percent = 100.0 * done / total if total else 100.0
        elapsed = moment - self._run_started
        self.stream.write(f"\r  {done}/{total} tests {percent:5.1f}%  {bad} failed  {elapsed:6.1f} s")
        if final:
            self.stream.write("\n")
        self.stream.flush()

    def printErrors(self) -> None:
        if self.progress:
            self._print_progress(final=True)
        super().printErrors()

    # --- summary -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """passed / failed / errors / skipped over all recorded tests."""
        tally = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
        for outcome, key in _OUTCOME_COUNTER.items():
            tally[key] += self.records.outcome_count(outcome)
        return tally


class TDDTestRunner(unittest.TextTestRunner):
    """A TextTestRunner that measures every test and prints the metrics report."""

    resultclass = TDDTestResult

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        settings: Settings | None = None,
        show_report: bool = True,
        json_path: str | None = None,
        junit_path: str | None = None,
        slowest: int = 5,
        trace_memory: bool = False,
        closing_line: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(stream, **kwargs)
        self.settings = settings
        self.show_report = show_report
        self.json_path = json_path
        self.junit_path = junit_path
        self.slowest = slowest
        self.trace_memory = trace_memory
        self.closing_line = closing_line
        self.last_wall = 0.0
        self._suite: unittest.BaseTestSuite | unittest.TestCase | None = None
        self._json: JsonStream | None = None
        self._junit: JUnitStream | None = None

    def run(self, test: unittest.BaseTestSuite | unittest.TestCase) -> TDDTestResult:
        self._suite = test
        cache_before = schema_cache.stats()
        if self.trace_memory:
            tracer.start()
        started = time.perf_counter()
        try:
            # typeshed: run() takes a TestSuite (unittest runs any suite); it returns the resultclass made here
            result: TDDTestResult = super().run(test)  # type: ignore[assignment,arg-type]
            self._finish(result, time.perf_counter() - started, schema_cache.since(cache_before))
        finally:
            for sink in (self._json, self._junit):
                if sink is not None:
                    sink.close()  # after an interrupt: nothing half-written is left
            self._json = self._junit = self._suite = None
            if self.trace_memory:
                tracer.stop()
        return result

    def _makeResult(self) -> TDDTestResult:
        result: TDDTestResult = super()._makeResult()  # type: ignore[assignment]
        if result.progress and self._suite is not None:  # the total shows in the progress line only
            result.expected_total = self._suite.countTestCases()
        if self.json_path:
            from ..reporting.json_stream import JsonStream

            self._json = JsonStream(self.json_path)
            result.sinks.append(self._json)
        if self.junit_path:
            from ..reporting.junit import JUnitStream

            self._junit = JUnitStream(self.junit_path)
            result.sinks.append(self._junit)
        return result

    def _settings(self) -> Settings:
        """The settings given, else those of the session the tests started, else the defaults."""
        session = current_session()
        return self.settings or (session.settings if session is not None else Settings())

    def _finish(self, result: TDDTestResult, wall: float, cache_stats: dict[str, float]) -> None:
        counts = result.counts()
        if self.show_report or self.json_path or self.junit_path:  # none asked for: nothing to compute
            self._write_reports(result, wall, cache_stats, counts)
        self.last_wall = wall
        if self.closing_line:
            self.stream.writeln(closing_line(counts))
        self.stream.flush()

    def _write_reports(self, result: TDDTestResult, wall: float, cache_stats: dict[str, float],
                       counts: dict[str, int]) -> None:
        from ..reporting import report as reporting

        records = result.records
        summary = reporting.RunSummary(tests=len(records), wall_seconds=wall, **counts)
        report = reporting.build_report(records, summary, self._settings(), slowest=self.slowest,
                                        schema_cache=cache_stats,
                                        parallel=reporting.parallel_stats(records, wall, result.workers))
        result.report = report
        if self.show_report:
            self.stream.writeln()
            self.stream.writeln(reporting.format_report(report))
        if self._json is not None:
            self._json.finish(report, records)
        if self._junit is not None:
            self._junit.finish(summary)


def closing_line(counts: dict[str, int]) -> str:
    """``tddkit: N passed, N failed[, N skipped]``: the line CI log readers look for."""
    line = f"tddkit: {counts['passed']} passed, {counts['failed'] + counts['errors']} failed"
    return line + (f", {counts['skipped']} skipped" if counts["skipped"] else "")
