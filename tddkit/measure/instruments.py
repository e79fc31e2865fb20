"""In-test instruments: custom metrics with alerts, memory snapshots, allocation tracing.

``record_metric`` stores a value on the running test (or class) and, when it is
over its threshold (``[tool.tddkit.thresholds]``), emits a
``PerformanceWarning`` (never raised, see ``warn``): severity ``warning`` up to
1.5x the threshold, ``critical`` beyond. ``memory_snapshot`` reads RSS/VMS
after a garbage collection. With ``--trace-memory``, tracemalloc snapshots
taken around each test name the allocation sites of tests that grew past the
memory threshold; without it, nothing here runs per test.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from ..config.settings import Settings
from .frames import first_outside
from .metrics import MB, CustomMetric, process_memory
from .stats import classify
from .warn import performance_warning


def record(target: Any, settings: Settings, owner: str, name: str, value: float,
           metadata: dict[str, Any]) -> str | None:
    """Add a metric to ``target.custom`` (TestMetrics or ClassMetrics); warn (or return the
    message to fail with) when it is over its threshold."""
    metric = CustomMetric(name, float(value), dict(metadata))
    target.custom = (*target.custom, metric)
    threshold = settings.thresholds.get(name)
    severity = classify(metric.value, threshold) if threshold is not None else None
    if severity is None or threshold is None:
        return None
    message = (f"{severity}: {name} = {metric.value:g} is over its threshold {threshold:g} "
               f"({metric.value / threshold:.2f}x) in {owner}")
    metric.metadata.setdefault("alert", severity)
    if settings.alerts_as_failures:
        return message
    frame, _ = first_outside(("tddkit.",), skip=1)  # the test's line, whatever tddkit frames are between
    if frame is None:
        performance_warning(message, "sys", 1)
    else:
        caller = frame.f_globals  # as warnings.warn does: the caller's module, and its registry of shown warnings
        performance_warning(message, frame.f_code.co_filename, frame.f_lineno, caller.get("__name__"),
                            caller.setdefault("__warningregistry__", {}))
    return None


def memory_snapshot(label: str) -> dict[str, Any]:
    """RSS and VMS in MB after a full garbage collection."""
    gc.collect()
    info = process_memory()
    return {"label": label, "rss_mb": info.rss / MB, "vms_mb": info.vms / MB}


class AllocationTracer:
    """tracemalloc snapshots around each test, on only with ``--trace-memory``."""

    enabled = False

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(1)
        self.enabled = True

    def stop(self) -> None:
        self.enabled = False
        if tracemalloc.is_tracing():
            tracemalloc.stop()

    def before_test(self) -> tracemalloc.Snapshot | None:
        return tracemalloc.take_snapshot() if self.enabled else None

    @staticmethod
    def top_sites(before: tracemalloc.Snapshot, limit: int = 5, floor: int = 64 * 1024) -> list[dict[str, Any]]:
        """The lines that allocated the most memory (still held, at least ``floor`` bytes) since ``before``."""
        after = tracemalloc.take_snapshot().filter_traces([
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, __file__),
        ])
        sites = []
        for stat in after.compare_to(before, "lineno")[:limit]:
            if stat.size_diff < floor:
                break
            frame = stat.traceback[0]
            sites.append({"site": f"{frame.filename}:{frame.lineno}", "size_mb": stat.size_diff / MB})
        return sites


tracer = AllocationTracer()
