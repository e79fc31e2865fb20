"""What one test (and one test class) cost: phase timings, SQL statements, memory.

TDDTestCase fills these records as a test runs; the runner's result collects
them. All times are milliseconds, memory is bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from .._compat import FAILED_IMPORT_ID

MB = 2**20

def process_memory() -> Any:
    """psutil's memory info (rss, vms, ...) of this process."""
    import psutil

    return psutil.Process().memory_info()


@dataclasses.dataclass
class ClassMetrics:
    """Class-level setup of one TDDTestCase class (connection + setUpTestData)."""

    class_name: str
    connection_ms: float = 0.0
    setup_ms: float = 0.0
    query_count: int = 0
    custom: Sequence[CustomMetric] = ()


@dataclasses.dataclass
class CustomMetric:
    """A value a test recorded with ``record_metric``."""

    name: str
    value: float
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


# Per-test records are kept for the whole run: without a __dict__ (slots) each is about half the size.
@dataclasses.dataclass(slots=True)
class TestMetrics:
    """The cost of one test, phase by phase."""

    __test__ = False

    test_id: str
    connection_ms: float = 0.0
    setup_ms: float = 0.0
    body_ms: float = 0.0
    cleanup_ms: float = 0.0
    #: Wall time from the start of the test's connection acquisition to the end of its cleanup (the meter's).
    total_ms: float = 0.0
    query_count: int = 0
    query_ms: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    resource_wait_ms: float = 0.0
    resources: Sequence[str] = ()
    outcome: str = "unknown"
    class_metrics: ClassMetrics | None = dataclasses.field(default=None, repr=False)
    # Empty tuples by default (replaced, never appended to): most tests record none of these.
    custom: Sequence[CustomMetric] = ()
    memory_snapshots: Sequence[dict[str, Any]] = ()
    allocations: Sequence[dict[str, Any]] = ()
    #: (shape, calls, total ms, longest ms) of each statement shape the test ran (``tddkit.measure.queries``).
    statements: Sequence[tuple[str, int, float, float]] = ()
    #: Shapes run at least ``repeated_query_threshold`` times (N+1): statement, calls, threshold,
    #: severity, and the file, line and function that issued them.
    repeated_statements: Sequence[dict[str, Any]] = ()

    @property
    def measured(self) -> bool:
        """Whether this record holds a test's measurements: not a skipped test, not the placeholder
        of a class or module fixture error (an error without timings), not a module that failed
        to import (unittest's ``_FailedTest``)."""
        if self.outcome == "skipped":
            return False
        if self.outcome == "error" and (self.total_ms == 0 or self.test_id.startswith(FAILED_IMPORT_ID)):
            return False
        return True

    @property
    def memory_delta(self) -> int:
        """RSS growth over the test in bytes (negative when memory was returned)."""
        return self.rss_after - self.rss_before

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stable keys, documented in docs/reference/output.md)."""
        data = dataclasses.asdict(self)
        data.pop("class_metrics")
        data.pop("statements")  # the run's JSON lists every shape with its tests
        for key in ("resources", "custom", "memory_snapshots", "allocations", "repeated_statements"):
            data[key] = list(data[key])
        data["memory_delta"] = self.memory_delta
        return data


def distinct_classes(tests: Iterable[TestMetrics]) -> list[ClassMetrics]:
    """The class metrics the tests refer to, each once, in order of first appearance."""
    seen: dict[int, ClassMetrics] = {}
    for tm in tests:
        if tm.class_metrics is not None:
            seen.setdefault(id(tm.class_metrics), tm.class_metrics)
    return list(seen.values())


# --- records as plain data (sent by parallel workers and pytest-xdist workers) ---------------

def metrics_to_dict(m: TestMetrics) -> dict[str, Any]:
    """A TestMetrics as plain data (picklable, no shared class record)."""
    data = dataclasses.asdict(m)
    data["class_metrics"] = dataclasses.asdict(m.class_metrics) if m.class_metrics else None
    return data


def _custom(entries: Sequence[dict[str, Any]]) -> tuple[CustomMetric, ...]:
    return tuple(CustomMetric(**c) for c in entries)


def metrics_from_dict(data: dict[str, Any], classes: dict[tuple[int, str], ClassMetrics], worker: int) -> TestMetrics:
    """The TestMetrics sent by ``worker``; tests of one class in one worker share one ClassMetrics."""
    data = dict(data)
    class_data = data.pop("class_metrics")
    data["custom"] = _custom(data.get("custom", ()))
    metrics = TestMetrics(**data)
    if class_data:
        key = (worker, class_data["class_name"])
        if key not in classes:
            classes[key] = ClassMetrics(**{**class_data, "custom": _custom(class_data.get("custom", ()))})
        metrics.class_metrics = classes[key]
    return metrics
