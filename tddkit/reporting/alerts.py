"""Threshold alerts of a run: which test's (or class's) metric went over its threshold, and how far.

Thresholds are ``[tool.tddkit.thresholds]``: the built-in ``test_duration_ms``,
``fixture_setup_ms`` and ``memory_usage_mb`` and any name recorded with
``record_metric``. Severity is ``warning`` up to 1.5x the threshold,
``critical`` beyond (``stats.classify``). Statements a test repeated
``repeated_query_threshold`` times or more (N+1) are ``n_plus_one`` alerts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence

from ..measure.metrics import MB, TestMetrics
from ..measure.records import RunRecords
from ..measure.stats import classify


@dataclasses.dataclass
class Alert:
    """A test whose metric went over its threshold."""

    metric: str
    test_id: str
    value: float
    threshold: float
    severity: str  # "warning" up to 1.5x the threshold, "critical" above


def _alerts(owner: str, checks: Iterable[tuple[str, float]], thresholds: Mapping[str, float]) -> list[Alert]:
    """Alerts for every (metric, value) of ``owner`` whose threshold in ``thresholds`` it exceeds."""
    alerts = []
    for metric, value in checks:
        threshold = thresholds.get(metric)
        severity = classify(value, threshold) if threshold is not None else None
        if threshold is not None and severity is not None:
            alerts.append(Alert(metric, owner, value, threshold, severity))
    return alerts


def _test_checks(records: RunRecords, i: int) -> list[tuple[str, float]]:
    """The values of test i that thresholds apply to."""
    value = records.value
    return [
        ("test_duration_ms", value("total_ms", i)),
        ("fixture_setup_ms", value("setup_ms", i)),
        ("memory_usage_mb", (value("rss_after", i) - value("rss_before", i)) / MB),
        *((custom.name, custom.value) for custom in value("custom", i)),
    ]


def _limit(threshold: float | None) -> float:
    """A threshold as the bound a value must not exceed: infinite when there is none."""
    return math.inf if threshold is None else threshold


def threshold_alerts(tests: RunRecords | Sequence[TestMetrics], thresholds: Mapping[str, float],
                     indices: Iterable[int] | None = None) -> list[Alert]:
    """Alerts of every test (those at ``indices`` of the records: all by default), then of every class's own
    recorded metrics."""
    records = tests if isinstance(tests, RunRecords) else RunRecords(tests)
    chosen = range(len(records)) if indices is None else indices
    if not isinstance(chosen, range):
        chosen = list(chosen)
    duration, setup, memory = (_limit(thresholds.get(name)) for name in ("test_duration_ms", "fixture_setup_ms",
                                                                            "memory_usage_mb"))
    extras = records.extras
    total, setup_ms, before, after = (records.column(name) for name in ("total_ms", "setup_ms", "rss_before",
                                                                         "rss_after"))
    alerts = []
    for i in _candidates(records, chosen, duration, setup, memory * MB):
        if total[i] <= duration and setup_ms[i] <= setup and (after[i] - before[i]) / MB <= memory and \
                i not in extras:
            continue  # the common case, decided without building the checks
        alerts += _alerts(records.ids[i], _test_checks(records, i), thresholds)
    for cm in records.classes_of(chosen):
        alerts += _alerts(cm.class_name, ((c.name, c.value) for c in cm.custom), thresholds)
    return alerts


def _candidates(records: RunRecords, chosen: Sequence[int], duration: float, setup: float,
                memory: float) -> Sequence[int]:
    """Those of ``chosen`` that may cross a threshold: every one, unless no test of the run crossed one (the common
    case, told without a loop of Python's); then only those with ``extras`` (which hold any odd value)."""
    if isinstance(chosen, range) and chosen == range(len(records)) and \
            max(records.column("total_ms"), default=0.0) <= duration and \
            max(records.column("setup_ms"), default=0.0) <= setup and not records.grown(chosen, memory):
        return records.sparse(chosen)
    return chosen


def repeated_statement_alerts(tests: RunRecords | Sequence[TestMetrics],
                              indices: Iterable[int] | None = None) -> list[Alert]:
    """An ``n_plus_one`` alert per statement a test repeated (value: its calls)."""
    records = tests if isinstance(tests, RunRecords) else RunRecords(tests)
    chosen = range(len(records)) if indices is None else indices
    return [Alert("n_plus_one", records.ids[i], found["calls"], found["threshold"], found["severity"])
            for i in records.sparse(chosen)
            for found in records.value("repeated_statements", i)]
