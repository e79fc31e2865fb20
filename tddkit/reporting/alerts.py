"""Threshold alerts of a run: which test's (or class's) metric went over its threshold, and how far.

Thresholds are ``[tool.tddkit.thresholds]``: the built-in ``test_duration_ms``,
``fixture_setup_ms`` and ``memory_usage_mb`` and any name recorded with
``record_metric``. Severity is ``warning`` up to 1.5x the threshold,
``critical`` beyond (``stats.classify``). Statements a test repeated
``repeated_query_threshold`` times or more (N+1) are ``n_plus_one`` alerts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from ..measure.metrics import MB, TestMetrics, distinct_classes
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


def _test_checks(tm: TestMetrics) -> list[tuple[str, float]]:
    """The values of one test that thresholds apply to."""
    return [
        ("test_duration_ms", tm.total_ms),
        ("fixture_setup_ms", tm.setup_ms),
        ("memory_usage_mb", tm.memory_delta / MB),
        *((custom.name, custom.value) for custom in tm.custom),
    ]


def threshold_alerts(tests: Sequence[TestMetrics], thresholds: Mapping[str, float]) -> list[Alert]:
    """Alerts of every test, then of every class's own recorded metrics."""
    alerts = [alert for tm in tests for alert in _alerts(tm.test_id, _test_checks(tm), thresholds)]
    for cm in distinct_classes(tests):
        alerts += _alerts(cm.class_name, ((c.name, c.value) for c in cm.custom), thresholds)
    return alerts


def repeated_statement_alerts(tests: Sequence[TestMetrics]) -> list[Alert]:
    """An ``n_plus_one`` alert per statement a test repeated (value: its calls)."""
    return [Alert("n_plus_one", tm.test_id, found["calls"], found["threshold"], found["severity"])
            for tm in tests for found in tm.repeated_statements]
