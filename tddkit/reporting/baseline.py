"""The baseline document: the per-test samples of repeated runs, saved as JSON and loaded again.

A baseline holds, per test, the samples of every repetition of the suite
(``--repeat N``): total and body time, statement count and calls per
statement shape, recorded custom metrics; plus suite-level aggregates and
where it was measured. ``regressions`` compares runs with it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..config.paths import DEFAULT_BASELINE_PATH  # noqa: F401  (part of this module's interface)
from ..errors import ConfigError
from ..measure.metrics import TestMetrics
from ..measure.stats import (
    statistic,
)
from ..output import environment, tddkit_version, timestamp, write_json
from .query_changes import add_calls

FORMAT = "tddkit-baseline"
FORMAT_VERSION = 1


Samples = dict[str, list[float]]
Run = Sequence[TestMetrics]  # the tests of one repetition of the suite

#: Suite-level aggregates of one repetition: (name, value from the run's tests and wall seconds), in ms.
_AGGREGATES: tuple[tuple[str, Callable[[Sequence[TestMetrics], float], float | None]], ...] = (
    ("individual_test_mean", lambda tests, wall: statistic((tm.total_ms for tm in tests), "mean")),
    ("individual_test_median", lambda tests, wall: statistic((tm.total_ms for tm in tests), "median")),
    ("fixture_setup_mean", lambda tests, wall: statistic((tm.setup_ms for tm in tests), "mean")),
    ("suite_wall", lambda tests, wall: wall * 1000 if tests else None),
)


# --- measurements --------------------------------------------------------------------


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _add_test(entry: dict[str, Any], tm: TestMetrics) -> None:
    """Append one run's samples of a test to its entry."""
    entry["outcome"] = tm.outcome
    for field in ("total_ms", "body_ms", "query_count"):
        entry[field].append(getattr(tm, field))
    add_calls(entry["statements"], tm.statements)
    for metric in tm.custom:
        if _finite(metric.value):
            entry["custom"].setdefault(metric.name, []).append(float(metric.value))


def collect(runs: Sequence[Run], wall_seconds: Sequence[float]) -> dict[str, Any]:
    """Samples of repeated runs: ``tests`` (per test id) and ``aggregates`` (per name), as stored."""
    if len(runs) != len(wall_seconds):
        raise ValueError(f"{len(runs)} runs but {len(wall_seconds)} wall times; pass one per run")
    tests: dict[str, dict[str, Any]] = {}
    aggregates: Samples = {name: [] for name, _ in _AGGREGATES}
    for run, wall in zip(runs, wall_seconds, strict=True):
        measured = [tm for tm in run if tm.measured]
        for tm in measured:
            entry = tests.setdefault(tm.test_id, {"total_ms": [], "body_ms": [], "query_count": [], "custom": {},
                                                  "statements": {}})
            _add_test(entry, tm)
        for name, value_of in _AGGREGATES:
            value = value_of(measured, wall)
            if value is not None and math.isfinite(value):
                aggregates[name].append(value)
    return {"tests": tests, "aggregates": {name: values for name, values in aggregates.items() if values}}


def build_baseline(runs: Sequence[Run], wall_seconds: Sequence[float]) -> dict[str, Any]:
    """The baseline document of ``runs`` (one list of TestMetrics per repetition) and their wall times (s)."""
    samples = collect(runs, wall_seconds)
    summaries = {}
    for name, values in samples["aggregates"].items():
        summaries[name] = {"unit": "ms", "median": statistics.median(values), "mean": statistics.fmean(values),
                           "samples": values}
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": timestamp(),
        "tddkit_version": tddkit_version(),
        "machine": environment(),
        "repeat": len(runs),
        "tests": samples["tests"],
        "aggregates": summaries,
    }


# --- files ---------------------------------------------------------------------------


def save_baseline(path: str, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` as JSON, atomically."""
    write_json(path, data)


def load_baseline(path: str) -> dict[str, Any]:
    """Read a baseline written by ``save_baseline``; ConfigError with a one-line reason otherwise."""
    again = f"create it with: python -m tddkit run --save-baseline {path}"
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"baseline file not found: {path}; {again}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read baseline file {path} ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"baseline file {path} is not valid JSON ({exc}); re-{again}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a tddkit baseline file; {again}")
    if data.get("version") != FORMAT_VERSION:
        raise ConfigError(f"baseline file {path} has format version {data.get('version')!r}, this tddkit reads "
                          f"version {FORMAT_VERSION}; re-{again}")
    if not isinstance(data.get("tests"), dict) or not isinstance(data.get("aggregates"), dict):
        raise ConfigError(f"baseline file {path} is incomplete (no 'tests' or 'aggregates'); re-{again}")
    return data
