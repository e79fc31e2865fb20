"""The report's performance table (one row of statistics per measured quantity, against its target) and its
histogram of test times, computed from a run's records: one sort per quantity."""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import operator
from collections.abc import Iterable, Sequence

from ..config.settings import Settings
from ..measure.metrics import MB
from ..measure.records import RunRecords
from ..measure.stats import Stats, summarize

#: Upper edges (ms) of the histogram buckets; the last bucket is ">= 100 ms".
HISTOGRAM_EDGES: tuple[float, ...] = (0.5, 1, 2, 5, 10, 50, 100)
HISTOGRAM_WIDTH = 40

#: Rows computed from per-test fields: (row name, field of a test's record, key in settings.targets, unit).
TEST_ROWS: tuple[tuple[str, str, str | None, str], ...] = (
    ("individual_test", "total_ms", "individual_test", "ms"),
    ("fixture_setup", "setup_ms", "fixture_setup", "ms"),
    ("connection_acquisition", "connection_ms", "connection_acquisition", "ms"),
    ("test_body", "body_ms", None, "ms"),
    ("cleanup", "cleanup_ms", "cleanup", "ms"),
    ("sql_queries", "query_count", None, "count"),
    ("sql_time", "query_ms", None, "ms"),
    ("memory_delta_mb", "memory_delta", None, "MB"),
)


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


def metric_row(name: str, values: Iterable[float], target: float | None, unit: str = "ms") -> MetricRow | None:
    """A row over the finite ``values``; None when there are none."""
    samples = list(map(float, values))
    if not all(map(math.isfinite, samples)):
        samples = [v for v in samples if math.isfinite(v)]
    samples.sort()
    stats = summarize(samples)
    if stats is None:
        return None
    if target is None:
        return MetricRow(name, stats, None, "-", None, unit)
    within = bisect.bisect_right(samples, target)
    status = "PASS" if stats.mean <= target else "FAIL"
    return MetricRow(name, stats, target, status, 100.0 * within / len(samples), unit, len(samples) - within)


def _values(records: RunRecords, field: str, indices: Sequence[int]) -> list[float]:
    """A field of the tests at ``indices`` (``memory_delta``: RSS growth in MB)."""
    if field == "memory_delta":
        return list(map(operator.truediv, records.memory_growth(indices), itertools.repeat(MB)))
    return records.field(field, indices)


def metric_rows(records: RunRecords, measured: Sequence[int], wall_seconds: float, tests: int,
                settings: Settings) -> list[MetricRow]:
    """The performance table of the tests at ``measured``, in its fixed order, without empty rows."""
    targets = settings.targets
    rows = [metric_row(name, _values(records, field, measured), targets.get(key) if key else None, unit)
            for name, field, key, unit in TEST_ROWS]
    classes = records.classes_of(measured)
    rows.append(metric_row("class_setup", (cm.setup_ms for cm in classes), None))
    with_resources = [i for i in records.sparse(measured) if records.value("resources", i)]
    if with_resources:  # only tests that declared resources
        rows.append(metric_row("resource_wait", records.field("resource_wait_ms", with_resources), None))
    if measured and tests > 0:
        rows.append(metric_row("suite_per_20_tests", [wall_seconds * 1000 * 20 / tests], targets.get("suite_20_tests")))
    custom: dict[str, list[float]] = {}
    recorded = [*(m for i in records.sparse(measured) for m in records.value("custom", i)),
                *(m for cm in classes for m in cm.custom)]
    for metric in recorded:
        custom.setdefault(metric.name, []).append(metric.value)
    rows.extend(metric_row(f"custom:{name}", values, settings.thresholds.get(name), "")
                for name, values in custom.items())
    return [row for row in rows if row is not None]


def histogram(values: Sequence[float]) -> list[str]:
    """Lines of a text histogram of ``values`` (ms) over HISTOGRAM_EDGES; [] without values."""
    if not values:
        return []
    ordered = sorted(itertools.filterfalse(math.isnan, values))
    below = [bisect.bisect_left(ordered, edge) for edge in HISTOGRAM_EDGES]
    counts = [below[0], *(b - a for a, b in zip(below, below[1:], strict=False)), len(ordered) - below[-1]]
    counts[0] += len(values) - len(ordered)  # NaN is below every edge
    labels = [f"< {edge:>4g} ms" for edge in HISTOGRAM_EDGES] + [f">={HISTOGRAM_EDGES[-1]:>4g} ms"]
    top = max(counts)
    lines = []
    for label, count in zip(labels, counts, strict=True):
        bar = "█" * (max(1, round(count * HISTOGRAM_WIDTH / top)) if count else 0)
        lines.append(f"  {label}  {bar} {count}")
    return lines
