"""The pytest plugin's state: the session, each measured test's scope and metrics, and the end-of-run report.

A test is measured when it uses a tddkit fixture (its TestScope and meter
live in the item's stash) or is a TDDTestCase (it hands its metrics over
through ``addMetrics``, as under tddkit's runner). Under pytest-xdist every
worker measures its own tests and sends them to the controller at the end
(``workeroutput``); the controller prints the report and runs the gate.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from .pytest_items import class_of, is_tddkit_case

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..isolation.class_transaction import ClassTransaction
    from ..isolation.scope import TestScope
    from ..measure.metrics import TestMetrics
    from ..reporting.report import Report
    from ..session.session import Session

SCOPE = pytest.StashKey["TestScope"]()
METRICS = pytest.StashKey["TestMetrics"]()
OUTCOME = pytest.StashKey[tuple[str, str]]()
RESOURCES = pytest.StashKey[tuple[tuple[str, ...], float]]()
#: The plugin's state, in the config's stash.
STATE = pytest.StashKey["PluginState"]()

TRANSACTION_FIXTURE = "_tddkit_transaction"


def begin_test(item: pytest.Item, transaction: ClassTransaction) -> TestScope:
    """Start measuring a test that uses a tddkit fixture, inside its module's transaction."""
    from ..measure.meter import TestMeter
    from ..measure.queries import repeated_queries_allowed

    allowed = repeated_queries_allowed(getattr(item, "function", None), class_of(item))
    meter = TestMeter(item.nodeid, allow_repeated=allowed)
    names, waited = item.stash.get(RESOURCES, ((), 0.0))
    if names:
        meter.metrics.resources, meter.metrics.resource_wait_ms = names, waited * 1000
    scope = transaction.begin_test(meter)
    item.stash[SCOPE] = scope
    return scope


def finish_item(item: pytest.Item, transaction: ClassTransaction, scope: TestScope) -> None:
    """Roll the test back (raising what went wrong after it, as a teardown error) and keep its metrics."""
    try:
        transaction.end_test(scope)
    finally:
        item.stash[METRICS] = scope.meter.metrics
        del item.stash[SCOPE]


def measured_item(item: pytest.Item) -> TestScope | None:
    """The running scope of a test that uses a tddkit fixture, else None."""
    return item.stash.get(SCOPE, None)


def _per_worker(settings: Settings, workerinput: dict[str, Any] | None) -> Settings:
    """On pytest-xdist worker ``gwN``, a fixed ``database`` becomes the worker's own, as under ``--parallel``."""
    if not settings.database or not workerinput:
        return settings
    from ..session.ownership import worker_database_name

    index = int("".join(ch for ch in str(workerinput.get("workerid", "")) if ch.isdigit()) or 0)
    return dataclasses.replace(settings, database=worker_database_name(settings.database, index))


def _phase_outcome(report: pytest.TestReport, before: tuple[str, str] | None) -> tuple[str, str] | None:
    """The test's outcome after this phase (the first failure wins), with its text."""
    if before is not None and before[0] in ("error", "failed"):
        return before
    if report.skipped and not hasattr(report, "wasxfail"):
        return ("skipped", str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "")
    if report.when == "call" and hasattr(report, "wasxfail"):
        return ("expected_failure", "") if report.skipped else ("unexpected_success", "")
    if report.failed:
        return ("failed" if report.when == "call" else "error", report.longreprtext)
    return before or ("passed", "")


class PluginState:
    """What the plugin keeps for one pytest process."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.session: Session | None = None
        self.tests: list[TestMetrics] = []
        self.details: dict[str, str] = {}
        self.lines: list[str] = []
        self._settings: Settings | None = None
        self._started = time.perf_counter()
        #: The test being set up, run or torn down (``before_test``).
        self.item: pytest.Item | None = None
        self._baseline: dict[str, Any] | None = None
        if config.getoption("tddkit_compare", None):
            self._baseline = self._load_baseline(config.getoption("tddkit_compare"))
        for name in ("tddkit_json", "tddkit_save_baseline"):
            if config.getoption(name, None):
                self._check_writable(name, config.getoption(name))
        self._outputs = None
        if config.getoption("tddkit_html", None) or config.getoption("tddkit_history", None):
            from .pytest_outputs import run_outputs

            self._outputs = run_outputs(config, self.settings())

    def _check_writable(self, name: str, path: str) -> None:
        """A usage error now, not a traceback after every test ran, when ``--tddkit-...`` cannot be written."""
        from ..errors import TddkitError
        from ..output import check_writable

        try:
            check_writable(self.settings().resolve(path), f"--{name.replace('_', '-')}")
        except TddkitError as exc:
            raise pytest.UsageError(f"tddkit: {exc}") from None

    def _load_baseline(self, path: str) -> dict[str, Any]:
        from ..errors import TddkitError
        from ..reporting.baseline import load_baseline

        try:
            return load_baseline(str(self.settings().resolve(path)))
        except TddkitError as exc:
            raise pytest.UsageError(f"tddkit: {exc}") from None

    def settings(self) -> Settings:
        """Settings from the project's config (found from pytest's rootdir) and --tddkit-dsn."""
        if self._settings is None:
            from ..config.settings import load_settings
            from ..errors import TddkitError

            try:
                settings = load_settings({"dsn": self.config.getoption("tddkit_dsn", None)},
                                         targets=[str(self.config.rootpath)])
                self._settings = _per_worker(settings, getattr(self.config, "workerinput", None))
            except TddkitError as exc:
                raise pytest.UsageError(f"tddkit: {exc}") from None
        return self._settings

    def tddkit_session(self) -> Session:
        """The tddkit session, started on first use (or handed over by its early start, see ``pytest_early``)."""
        if self.session is None:
            from ..session import early_start
            from ..session.session import get_session

            settings = self.settings()
            early_start.finish(settings)
            self.session = get_session(settings)
        return self.session

    def tddkit_classes(self, items: list[pytest.Item]) -> set[Any]:
        """The classes (None aside) with a test that uses a tddkit fixture."""
        return {class_of(item) for item in items
                if TRANSACTION_FIXTURE in getattr(item, "fixturenames", ())} - {None}

    def start_clock(self) -> None:
        self._started = time.perf_counter()

    # --- per test ---------------------------------------------------------------------------------------

    def running_item(self) -> pytest.Item:
        """The test whose setup, call or teardown is under way (fixtures that take no ``request`` ask here)."""
        if self.item is None:
            raise pytest.UsageError("tddkit's fixtures work in tests and their fixtures, not outside a test")
        return self.item

    def before_test(self, item: pytest.Item) -> None:
        """Take the test's named resources; let a TDDTestCase hand its metrics to this item."""
        self.item = item
        names = tuple(sorted({name for mark in item.iter_markers("tddkit_resources") for name in mark.args}))
        if names:
            locks = self.tddkit_session()._resource_locks()
            item.stash[RESOURCES] = (names, locks.acquire(names, item.nodeid))
        if is_tddkit_case(item):
            item.addMetrics = lambda test, metrics: item.stash.__setitem__(METRICS, metrics)  # type: ignore

    def release_resources(self, item: pytest.Item) -> None:
        names, _ = item.stash.get(RESOURCES, ((), 0.0))
        if names and self.session is not None:
            self.session._resource_locks().release(names)

    def after_phase(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """Note the test's outcome; after its teardown, keep its metrics if it was measured."""
        outcome = _phase_outcome(report, item.stash.get(OUTCOME, None))
        if outcome is not None:
            item.stash[OUTCOME] = outcome
        if report.when != "teardown":
            return
        metrics = item.stash.get(METRICS, None)
        if metrics is None and TRANSACTION_FIXTURE in getattr(item, "fixturenames", ()):
            from ..measure.metrics import TestMetrics

            metrics = TestMetrics(item.nodeid)  # skipped, or its setup failed before the fixture ran
        if metrics is None:
            return
        metrics.test_id = item.nodeid
        kind, text = item.stash.get(OUTCOME, ("passed", ""))
        metrics.outcome = kind
        if text:
            self.details[item.nodeid] = text
        self.tests.append(metrics)

    # --- the end ---------------------------------------------------------------------------------------

    def merge_worker(self, data: dict[str, Any] | None) -> None:
        """Add what a pytest-xdist worker measured."""
        if not data:
            return
        from ..measure.metrics import metrics_from_dict

        classes: dict[tuple[int, str], Any] = {}
        worker = len(self.tests) + 1
        self.tests.extend(metrics_from_dict(entry, classes, worker) for entry in data["tests"])
        self.details.update(data["details"])

    def finish(self, worker_output: dict[str, Any] | None) -> int:
        """Close the session; on a pytest-xdist worker hand the metrics over, else report and check them."""
        if "tddkit.session.early_start" in sys.modules:
            sys.modules["tddkit.session.early_start"].abandon()  # started early, never used
        if self.session is not None:
            from ..session.session import close_session

            close_session()
            self.session = None
        if worker_output is not None:
            from ..measure.metrics import metrics_to_dict

            worker_output["tddkit"] = {"tests": [metrics_to_dict(m) for m in self.tests], "details": self.details}
            return 0
        option = self.config.getoption
        wanted = any(option(name, None) for name in ("tddkit_report", "tddkit_json", "tddkit_gate",
                                                     "tddkit_save_baseline", "tddkit_compare", "tddkit_html",
                                                     "tddkit_history"))
        if not self.tests and not wanted:
            return 0
        return self._report(time.perf_counter() - self._started)

    def _report(self, wall: float) -> int:
        from ..reporting.checks import check_run
        from .pytest_outputs import publish, run_outputs

        settings = self.settings()
        option = self.config.getoption
        self.lines = [self._one_line()]
        outputs = self._outputs or run_outputs(self.config, settings)
        json_file = outputs.json_path(option("tddkit_json") and str(settings.resolve(option("tddkit_json")))) \
            if outputs else None
        report = self._full_report(wall, settings, json_file) if option("tddkit_report") or option("tddkit_json") \
            or outputs else None
        out = io.StringIO()
        earlier = outputs.earlier() if outputs else None
        checks = check_run(settings, [self.tests], [wall], save_baseline_to=option("tddkit_save_baseline"),
                           baseline=self._baseline, gate=option("tddkit_gate"), history=earlier, out=out)
        self.lines += out.getvalue().splitlines()
        if outputs:
            self.lines += publish(outputs, report, json_file, checks, earlier, option("tddkit_html"))
        return checks.code

    def _full_report(self, wall: float, settings: Settings, json_file: str | None = None) -> Report:
        """The report (``--tddkit-report``) and the JSON file (``--tddkit-json``, or ``json_file`` for the HTML
        report)."""
        from ..reporting.report import RunSummary, build_report, format_report, write_json

        counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
        for m in self.tests:
            key = {"expected_failure": "passed", "unexpected_success": "failed", "error": "errors"}.get(
                m.outcome, m.outcome)
            counts[key if key in counts else "passed"] += 1
        report = build_report(self.tests, RunSummary(tests=len(self.tests), wall_seconds=wall, **counts), settings)
        option = self.config.getoption
        if option("tddkit_report"):
            self.lines += ["", format_report(report)]
        json_file = json_file or (option("tddkit_json") and str(settings.resolve(option("tddkit_json"))))
        if json_file:
            write_json(json_file, report, self.tests)
        if option("tddkit_json"):
            self.lines.append(f"tddkit: metrics of {len(self.tests)} tests written to {option('tddkit_json')}")
        return report

    def _one_line(self) -> str:
        import statistics

        measured = [m for m in self.tests if m.measured]
        if not measured:
            return f"tddkit: {len(self.tests)} tests, none measured"
        median = statistics.median(m.total_ms for m in measured)
        queries = sum(m.query_count for m in measured)
        return (f"tddkit: {len(measured)} tests measured, median {median:.3f} ms per test, {queries} SQL "
                f"statements{'' if self.config.getoption('tddkit_report') else ' (--tddkit-report: the full report)'}")

    def summary_lines(self) -> Sequence[str]:
        return self.lines
