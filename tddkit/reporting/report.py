"""The report of one run: statistics of its metrics against targets, printed and as JSON.

``build_report`` summarises a run's records (one ``MetricRow`` per measured
quantity, targets met, a verdict, alerts, memory warnings, the slowest tests
and statements, repeated statements, a histogram); ``format_report`` prints
it; ``report_to_dict`` and ``write_json`` give its JSON document (written as
the run goes by ``json_stream``). Times are milliseconds unless a name says
otherwise. This module sits below the runner.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from ..config.settings import Settings
from ..measure.metrics import MB, ClassMetrics, TestMetrics, distinct_classes
from ..measure.records import RunRecords
from ..measure.stats import recommendation
from ..output import document_header, format_number, format_table, json_safe
from ..output import write_json as write_document
from .alerts import Alert, repeated_statement_alerts, threshold_alerts
from .rows import HISTOGRAM_EDGES, HISTOGRAM_WIDTH, MetricRow, histogram, metric_row, metric_rows
from .statements import ShapeStats, format_statements, run_statistics

__all__ = ["HISTOGRAM_EDGES", "HISTOGRAM_WIDTH", "MetricRow", "Report", "RunSummary", "build_report", "document",
           "format_report", "histogram", "metric_row", "report_to_dict", "write_json"]

_NO_TARGETS = "no data: no measured metric has a target"


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
    tests: RunRecords | Sequence[TestMetrics], summary: RunSummary, settings: Settings, slowest: int = 5,
    schema_cache: dict[str, float] | None = None, parallel: dict[str, float] | None = None,
) -> Report:
    """Summarise a run's metrics against the targets and thresholds in ``settings``; only measured
    tests count (not skipped ones, not the stand-ins of errors in fixtures or imports)."""
    records = tests if isinstance(tests, RunRecords) else RunRecords(tests)
    measured = records.measured()
    rows = metric_rows(records, measured, summary.wall_seconds, summary.tests, settings)
    targeted = [row.success_rate for row in rows if row.success_rate is not None]
    totals = records.field("total_ms", measured)
    grown = records.grown(measured, settings.memory_warning_mb * MB)
    return Report(
        summary=summary,
        rows=rows,
        targets_met=sum(row.status == "PASS" for row in rows),
        targets_total=len(targeted),
        overall_success_rate=statistics.fmean(targeted) if targeted else 0.0,
        recommendation=verdict(summary, len(measured), targeted),
        slowest=[records[measured[k]] for k in _largest(totals, max(slowest, 0))],
        memory_warnings=[records[i] for i in grown],
        alerts=threshold_alerts(records, settings.thresholds, measured) +
        repeated_statement_alerts(records, measured),
        histogram=histogram(totals),
        schema_cache=schema_cache if schema_cache and schema_cache.get("requests") else None,
        parallel=parallel,
        statements=run_statistics(records, indices=measured),
        slowest_statements=max(slowest, 0),
        repeated=[{"test_id": records.ids[i], **found} for i in records.sparse(measured)
                  for found in records.value("repeated_statements", i)],
    )


def _largest(values: Sequence[float], count: int) -> list[int]:
    """Positions of the ``count`` largest values, largest first (ties in order), as a stable reverse sort."""
    positions: Iterable[int] = range(len(values))
    if 0 < count < len(values) and all(map(math.isfinite, values)):  # only those at least the count-th largest
        cutoff = sorted(values, reverse=True)[count - 1]
        positions = itertools.compress(positions, map(operator.ge, values, itertools.repeat(cutoff)))
    return sorted(positions, key=values.__getitem__, reverse=True)[:count]


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
    return document(report, [tm.as_dict() for tm in tests], distinct_classes(tests))


def document(report: Report, tests: list[Any], classes: Sequence[ClassMetrics]) -> dict[str, Any]:
    """The JSON document of a run whose tests (each ``TestMetrics.as_dict``) are ``tests``."""
    s = report.summary
    body: dict[str, object] = {
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
        "tests": tests,
        "classes": [dataclasses.asdict(cm) for cm in classes],
        "alerts": [dataclasses.asdict(alert) for alert in report.alerts],
        "memory_warnings": [tm.test_id for tm in report.memory_warnings],
        "schema_cache": report.schema_cache,
        "parallel": report.parallel,
        "statements": [{**dataclasses.asdict(s), "mean_ms": s.mean_ms} for s in report.statements],
        "repeated_statements": report.repeated,
    }
    return json_safe(body)


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


def parallel_stats(tests: RunRecords, wall: float, workers: int) -> dict[str, float] | None:
    """Wall time vs the summed test time of a parallel run (the serial estimate): their ratio ("speedup", below
    1 when the run was slower than the estimate) and the share of the workers' time spent in tests ("efficiency")."""
    if workers <= 1 or wall <= 0:
        return None
    serial = (sum(tests.field("total_ms", range(len(tests)))) + sum(cm.setup_ms for cm in tests.classes)) / 1000
    speedup = serial / wall
    return {"workers": workers, "wall_seconds": wall, "sum_test_seconds": serial,
            "speedup": speedup, "efficiency": 100.0 * speedup / workers}
