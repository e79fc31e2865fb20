"""The report of one run: statistics of its metrics against targets, printed and as JSON.

``build_report`` summarises a run (one ``MetricRow`` per measured quantity,
targets met, a verdict, alerts, memory warnings, the slowest tests and
statements, repeated statements, a histogram); ``format_report`` prints it;
``write_json`` saves it. Times are
milliseconds unless a name says otherwise. This module sits below the runner.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

from ..config.settings import Settings
from ..measure.metrics import MB, TestMetrics, distinct_classes
from ..measure.queries import ShapeStats, format_statements, run_statistics
from ..measure.stats import Stats, compute_stats, recommendation, success_rate
from ..output import document_header, format_number, format_table, json_safe
from ..output import write_json as write_document
from .alerts import Alert, repeated_statement_alerts, threshold_alerts

#: Upper edges (ms) of the histogram buckets; the last bucket is ">= 100 ms".
HISTOGRAM_EDGES: tuple[float, ...] = (0.5, 1, 2, 5, 10, 50, 100)
HISTOGRAM_WIDTH = 40

#: Rows computed from per-test fields: (row name, value of a test, key in settings.targets, unit).
_TEST_ROWS: tuple[tuple[str, Callable[[TestMetrics], float], str | None, str], ...] = (
    ("individual_test", attrgetter("total_ms"), "individual_test", "ms"),
    ("fixture_setup", attrgetter("setup_ms"), "fixture_setup", "ms"),
    ("connection_acquisition", attrgetter("connection_ms"), "connection_acquisition", "ms"),
    ("test_body", attrgetter("body_ms"), None, "ms"),
    ("cleanup", attrgetter("cleanup_ms"), "cleanup", "ms"),
    ("sql_queries", attrgetter("query_count"), None, "count"),
    ("sql_time", attrgetter("query_ms"), None, "ms"),
    ("memory_delta_mb", lambda tm: tm.memory_delta / MB, None, "MB"),
)

_NO_TARGETS = "no data: no measured metric has a target"


# --- rows ----------------------------------------------------------------------------


@dataclasses.dataclass
class MetricRow:
    """One line of the performance table."""

    name: str
    stats: Stats
    target: float | None
    status: str  # "PASS" (mean <= target), "FAIL", or "-" without a target
    success_rate: float | None  # % of samples <= target; None without a target
    unit: str = "ms"
    violations: int | None = None  # samples over the target; None without a target


def _metric_row(name: str, values: Iterable[float], target: float | None, unit: str = "ms") -> MetricRow | None:
    """A row over the finite ``values``; None when there are none."""
    samples = [float(v) for v in values if math.isfinite(v)]
    stats = compute_stats(samples)
    if stats is None:
        return None
    if target is None:
        return MetricRow(name, stats, None, "-", None, unit)
    over = sum(v > target for v in samples)
    status = "PASS" if stats.mean <= target else "FAIL"
    return MetricRow(name, stats, target, status, success_rate(samples, target), unit, over)


# --- the report ----------------------------------------------------------------------


@dataclasses.dataclass
class RunSummary:
    """Counts of one run."""

    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    wall_seconds: float


@dataclasses.dataclass
class Report:
    """Everything the printed report and the JSON file need."""

    summary: RunSummary
    rows: list[MetricRow]
    targets_met: int
    targets_total: int
    overall_success_rate: float  # mean success rate of the rows with a target, in %
    recommendation: str
    slowest: list[TestMetrics]
    memory_warnings: list[TestMetrics]
    alerts: list[Alert]
    histogram: list[str]
    schema_cache: dict[str, float] | None = None  # temp-table SchemaCache stats, when any request
    statements: list[ShapeStats] = dataclasses.field(default_factory=list)  # by total time, most first
    slowest_statements: int = 0  # how many of them the printed report lists
    repeated: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # N+1: test_id + what was found
    parallel: dict[str, float] | None = None  # workers, wall/sum of test seconds, speedup, efficiency


def _rows(tests: Sequence[TestMetrics], summary: RunSummary, settings: Settings) -> list[MetricRow]:
    """The performance table, in its fixed order, without empty rows."""
    targets = settings.targets
    rows = [_metric_row(name, map(value, tests), targets.get(key) if key else None, unit)
            for name, value, key, unit in _TEST_ROWS]
    rows.append(_metric_row("class_setup", (cm.setup_ms for cm in distinct_classes(tests)), None))
    waits = [tm.resource_wait_ms for tm in tests if tm.resources]
    if waits:  # only tests that declared resources
        rows.append(_metric_row("resource_wait", waits, None))
    if tests and summary.tests > 0:
        per_20 = summary.wall_seconds * 1000 * 20 / summary.tests
        rows.append(_metric_row("suite_per_20_tests", [per_20], targets.get("suite_20_tests")))
    custom: dict[str, list[float]] = {}
    recorded = [*(m for tm in tests for m in tm.custom), *(m for cm in distinct_classes(tests) for m in cm.custom)]
    for metric in recorded:
        custom.setdefault(metric.name, []).append(metric.value)
    rows.extend(_metric_row(f"custom:{name}", values, settings.thresholds.get(name), "")
                for name, values in custom.items())
    return [row for row in rows if row is not None]


def histogram(values: Sequence[float]) -> list[str]:
    """Lines of a text histogram of ``values`` (ms) over HISTOGRAM_EDGES; [] without values."""
    if not values:
        return []
    counts = [0] * (len(HISTOGRAM_EDGES) + 1)
    for value in values:
        counts[sum(value >= edge for edge in HISTOGRAM_EDGES)] += 1
    labels = [f"< {edge:>4g} ms" for edge in HISTOGRAM_EDGES] + [f">={HISTOGRAM_EDGES[-1]:>4g} ms"]
    top = max(counts)
    lines = []
    for label, count in zip(labels, counts, strict=True):
        bar = "█" * (max(1, round(count * HISTOGRAM_WIDTH / top)) if count else 0)
        lines.append(f"  {label}  {bar} {count}")
    return lines


def verdict(summary: RunSummary, measured: int, rates: Sequence[float]) -> str:
    """The recommendation line: what went wrong when the run cannot be judged, else the verdict on
    the mean of ``rates`` (the success rates of the rows with a target)."""
    tests = "test" if summary.tests == 1 else "tests"
    if summary.errors:
        them = "it" if summary.errors == 1 else "them"
        return (f"errors: {summary.errors} of {summary.tests} {tests} could not run or ended in an error; "
                f"fix {them} before judging performance")
    if not measured:
        return "no data: no test was measured"
    judged = recommendation(statistics.fmean(rates)) if rates else _NO_TARGETS
    if summary.failed:  # they ran, so their speed counts; but "excellent" alone would read as all is well
        judged += f" ({summary.failed} of {summary.tests} {tests} failed: this judges speed only)"
    return judged


def build_report(
    tests: Sequence[TestMetrics], summary: RunSummary, settings: Settings, slowest: int = 5,
    schema_cache: dict[str, float] | None = None, parallel: dict[str, float] | None = None,
) -> Report:
    """Summarise a run's metrics against the targets and thresholds in ``settings``; only measured
    tests count (not skipped ones, not the stand-ins of errors in fixtures or imports)."""
    measured = [tm for tm in tests if tm.measured]
    rows = _rows(measured, summary, settings)
    targeted = [row.success_rate for row in rows if row.success_rate is not None]
    return Report(
        summary=summary,
        rows=rows,
        targets_met=sum(row.status == "PASS" for row in rows),
        targets_total=len(targeted),
        overall_success_rate=statistics.fmean(targeted) if targeted else 0.0,
        recommendation=verdict(summary, len(measured), targeted),
        slowest=sorted(measured, key=attrgetter("total_ms"), reverse=True)[: max(slowest, 0)],
        memory_warnings=[tm for tm in measured if tm.memory_delta > settings.memory_warning_mb * MB],
        alerts=threshold_alerts(measured, settings.thresholds) + repeated_statement_alerts(measured),
        histogram=histogram([tm.total_ms for tm in measured]),
        schema_cache=schema_cache if schema_cache and schema_cache.get("requests") else None,
        parallel=parallel,
        statements=run_statistics(measured),
        slowest_statements=max(slowest, 0),
        repeated=[{"test_id": tm.test_id, **found} for tm in measured for found in tm.repeated_statements],
    )


# --- printing and JSON ---------------------------------------------------------------


def format_report(report: Report) -> str:
    """The report as printed at the end of a run."""
    s = report.summary
    out = [f"tddkit performance report: {s.tests} tests in {s.wall_seconds:.2f} s", ""]
    headers = ["metric", "count", "mean", "median", "p95", "min", "max", "stddev", "target", "status",
               "success %", "violations"]
    out.append(format_table(headers, [
        [row.name, str(row.stats.count),
         *(format_number(getattr(row.stats, f), row.unit) for f in ("mean", "median", "p95", "min", "max", "stddev")),
         format_number(row.target, row.unit), row.status,
         "-" if row.success_rate is None else f"{row.success_rate:.1f}",
         "-" if row.violations is None else str(row.violations)]
        for row in report.rows
    ]))
    out += [
        "",
        "Summary",
        f"  tests: {s.tests}  passed: {s.passed}  failed: {s.failed}  errors: {s.errors}  "
        f"skipped: {s.skipped}  wall time: {s.wall_seconds:.3f} s",
        f"  targets met: {report.targets_met}/{report.targets_total}",
        f"  overall success rate: {report.overall_success_rate:.1f}%",
        f"  recommendation: {report.recommendation}",
    ]
    if report.parallel:
        out.append(format_parallel(report.parallel))
    if report.schema_cache:
        c = report.schema_cache
        out.append(
            f"  temp-table schema cache: {c['requests']:.0f} requests, {c['hits']:.0f} hits, {c['misses']:.0f} misses, "
            f"{c['efficiency']:.1f}% efficiency, {c['ddl_saved']:.0f} DDL statements saved"
        )
    if report.slowest:
        out += ["", f"Slowest {len(report.slowest)} tests", format_table(
            ["test", "total ms", "body ms", "queries"],
            [[tm.test_id, format_number(tm.total_ms), format_number(tm.body_ms), str(tm.query_count)]
             for tm in report.slowest],
        )]
    out += format_statements(report.statements[:report.slowest_statements], report.repeated)
    if report.memory_warnings:
        out += ["", "Memory warnings", format_table(
            ["test", "growth MB"], [[tm.test_id, format_number(tm.memory_delta / MB)] for tm in report.memory_warnings]
        )]
        for tm in report.memory_warnings:
            if tm.allocations:
                out.append(f"  allocated and kept by {tm.test_id} (--trace-memory):")
                out += [f"    {site['size_mb']:8.3f} MB  {site['site']}" for site in tm.allocations]
    if report.alerts:
        out += ["", "Alerts", format_table(
            ["severity", "metric", "test", "value", "threshold"],
            [[a.severity, a.metric, a.test_id, format_number(a.value), format_number(a.threshold)]
             for a in report.alerts],
            text_columns=3,
        )]
    if report.histogram:
        out += ["", "Test time distribution (total ms)", *report.histogram]
    return "\n".join(out)


def report_to_dict(report: Report, tests: Sequence[TestMetrics]) -> dict[str, Any]:
    """The JSON document of a run (stable keys)."""
    s = report.summary
    document: dict[str, object] = {
        **document_header(),
        "summary": {
            **dataclasses.asdict(s),
            "targets_met": report.targets_met,
            "targets_total": report.targets_total,
            "overall_success_rate": report.overall_success_rate,
            "recommendation": report.recommendation,
        },
        "metrics": {
            row.name: {
                **dataclasses.asdict(row.stats),
                "target": row.target,
                "status": row.status,
                "success_rate": row.success_rate,
                "violations": row.violations,
                "unit": row.unit,
            }
            for row in report.rows
        },
        "tests": [tm.as_dict() for tm in tests],
        "classes": [dataclasses.asdict(cm) for cm in distinct_classes(tests)],
        "alerts": [dataclasses.asdict(alert) for alert in report.alerts],
        "memory_warnings": [tm.test_id for tm in report.memory_warnings],
        "schema_cache": report.schema_cache,
        "parallel": report.parallel,
        "statements": [{**dataclasses.asdict(s), "mean_ms": s.mean_ms} for s in report.statements],
        "repeated_statements": report.repeated,
    }
    return json_safe(document)


def format_parallel(p: dict[str, float]) -> str:
    """The line on a parallel run: its wall time against the serial estimate, the sum of this run's test times in
    the workers (no serial run happened; workers competing for the CPU make it larger than one would take)."""
    ratio = p["speedup"]
    compared = f"{ratio:.2f}x faster than" if ratio >= 1 else f"{1 / ratio:.2f}x slower than" if ratio else \
        "slower than"
    return (f"  parallel: {p['workers']:.0f} workers, wall {p['wall_seconds']:.3f} s vs {p['sum_test_seconds']:.3f} s "
            f"serial estimate (the sum of this run's test times in the workers): {compared} the estimate, workers "
            f"busy {p['efficiency']:.1f}% of the wall time")


def write_json(path: str, report: Report, tests: Sequence[TestMetrics]) -> None:
    """Write the JSON document of a run to ``path`` (atomically)."""
    write_document(path, report_to_dict(report, tests))
