"""Grouping tests by class, durations of earlier runs, and duration-balanced shards.

Tests move as whole classes (their setUpClass/setUpTestData run once, in one
worker or shard). Durations recorded by earlier runs (``{test_id: seconds}``,
class setup as ``<class>::setup``) weigh the classes; unknown tests get the
mean. ``--shard K/N`` keeps the K-th of N shards, filled longest class first
into the least-loaded shard.
"""

from __future__ import annotations

import json
import os
import unittest
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .._compat import method_name_of
from ..errors import ConfigError
from ..isolation.named_resources import resources_of
from ..measure.metrics import TestMetrics
from ..measure.records import RunRecords
from ..output import check_writable, write_json
from ..testcase.runner import iter_tests

Group = list[unittest.TestCase]


def _class_key(test: unittest.TestCase) -> str:
    return f"{type(test).__module__}.{type(test).__qualname__}"


def group_by_class(tests: Iterable[unittest.TestCase]) -> list[Group]:
    """Tests grouped by class, in first-seen order."""
    groups: dict[str, Group] = {}
    for test in tests:
        groups.setdefault(_class_key(test), []).append(test)
    return list(groups.values())


def load_durations(path: Path) -> dict[str, float]:
    """``{test_id: seconds}`` from earlier runs ({} when the file is missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def durations_unwritable(path: Path) -> str | None:
    """Why this run's durations cannot be saved at ``path`` (a warning: the run goes on), or None.

    Checked before the tests run, like ``--json``; a read-only checkout
    must not turn a passing run into a failed one.
    """
    try:
        check_writable(path, "durations_file")
    except ConfigError as exc:
        return f"test durations not saved: {exc}"
    return None


def save_durations(path: Path, metrics: Sequence[TestMetrics]) -> str | None:
    """Merge this run's test durations into ``path`` (atomically); why they were not saved, or None."""
    durations = load_durations(path)
    records = metrics if isinstance(metrics, RunRecords) else RunRecords(metrics)
    durations.update(records.durations())
    for class_metrics in records.classes:
        durations[f"{class_metrics.class_name}::setup"] = round(class_metrics.setup_ms / 1000, 6)
    try:
        write_json(path, durations, indent=None, sort_keys=True, separators=(",\n", ": "))  # a test per line
    except OSError as exc:
        return f"test durations not saved: durations_file {path} cannot be written ({exc.strerror})"
    return None


def group_weight(group: Group, durations: dict[str, float], default: float) -> float:
    """Expected seconds of a class: its tests plus its class setup."""
    tests = sum(durations.get(t.id(), default) for t in group)
    return tests + durations.get(f"{_class_key(group[0])}::setup", 0.0)


def longest_first(groups: list[Group], durations: dict[str, float]) -> list[tuple[float, Group]]:
    """Groups with their expected seconds, longest first (ties by name, so the order is stable)."""
    known = [v for k, v in durations.items() if not k.endswith("::setup")]
    default = sum(known) / len(known) if known else 0.001
    weighted = [(group_weight(g, durations, default), g) for g in groups]
    return sorted(weighted, key=lambda wg: (-wg[0], _class_key(wg[1][0])))


def keep_resources_together(weighted: list[tuple[float, Group]], workers: int) -> list[tuple[float, Group]]:
    """Merge classes that share a named resource into one unit, where the unit stays within
    a fair share of the work (total / workers): they would wait for each other anyway."""
    fair_share = sum(w for w, _ in weighted) / max(workers, 1)
    units: list[list[Any]] = []
    home: dict[str, int] = {}
    for weight, group in weighted:
        names = {name for test in group for name in resources_of(type(test), method_name_of(test))}
        target = next((home[n] for n in sorted(names) if n in home and units[home[n]][0] + weight <= fair_share), None)
        if target is None:
            units.append([weight, list(group)])
            target = len(units) - 1
        else:
            units[target][0] += weight
            units[target][1].extend(group)
        for name in names:
            home.setdefault(name, target)
    return sorted(((w, g) for w, g in units), key=lambda wg: -wg[0])


def parse_shard(text: str) -> tuple[int, int]:
    """``'K/N'`` -> (K, N) with 1 <= K <= N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like K/N (e.g. 2/4), not {text!r}") from None
    if not 1 <= k <= n:
        raise ConfigError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard(groups: list[Group], durations: dict[str, float], k: int, n: int) -> list[Group]:
    """The K-th of N duration-balanced shards: longest class first to the least-loaded shard."""
    loads = [0.0] * n
    chosen: list[Group] = []
    for weight, group in longest_first(groups, durations):
        target = min(range(n), key=lambda i: (loads[i], i))
        loads[target] += weight
        if target == k - 1:
            chosen.append(group)
    return chosen


def parse_parallel(text: str) -> int:
    """``'auto'`` (the CPU count) or a positive integer."""
    if text == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"--parallel takes a positive number of workers or 'auto', not {text!r}")
    return value


def select(suite: unittest.TestSuite, shard_of: tuple[int, int] | None, durations_path: Path,
           by_class: bool) -> unittest.TestSuite:
    """The suite, cut to one shard and grouped by class when sharding or running in parallel."""
    if not shard_of and not by_class:
        return suite
    groups = group_by_class(iter_tests(suite))
    if shard_of:
        groups = shard(groups, load_durations(durations_path), *shard_of)
    return unittest.TestSuite(t for g in groups for t in g)
