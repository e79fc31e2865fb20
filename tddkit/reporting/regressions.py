"""Comparing runs with a baseline: timing regressions beyond the noise, statement counts, confirmation.

``compare`` flags a test as a regression only when it is both slower than the
threshold (``regression_threshold``, on the median) and slower than the
noise: by a one-sided Mann-Whitney U test (alpha 0.01) when both sides have
samples enough to reach alpha (5 vs 5, 4 vs 5, 3 vs 10), otherwise by a noise
band, 3 noise sigmas wide, from the spread of each test's samples, the spread
of the baseline pooled over tests, and the spread of the per-test ratios
across the suite (a machine that is uniformly noisier widens the band; a
minority of tests that got slower, or all tests slower alike, do not).
Changes smaller than an absolute floor (1 ms) are ignored: sub-ms tests are
noise dominated. Statement counts are exact: a test whose count grew flags
the run from a single run, and the statement shapes behind the change are
listed (``query_changes``). Improvements are judged the same way, mirrored. A
flagged run exits with ``gate.EXIT_GATE_FAILED``.

One sample per test cannot tell a scheduler hiccup of a few ms on a busy
machine from a regression of a few ms; on shared CI machines compare the
median of ``--repeat 3`` to ``5`` runs.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..config.settings import Settings
from ..measure.stats import (
    ALPHA,
    mann_whitney_decides,
    mann_whitney_greater,
    pooled_noise,
    ratio_spread,
    relative_noise,
)
from ..output import environment, format_number, format_table
from .baseline import Run, collect
from .query_changes import QueryChange, format_query_changes, query_change

DEFAULT_THRESHOLD = Settings().regression_threshold  # a regression is at least this much slower on the median
NOISE_FACTOR = 3.0  # the noise band is this many noise "sigmas" wide
MIN_DELTA_MS = 1.0  # changes of the median below this are noise


# --- comparison ----------------------------------------------------------------------


@dataclasses.dataclass
class Change:
    """One metric of one test (or aggregate) that moved against the baseline."""

    key: str  # test id, "aggregate:<name>" or "custom:<test id>:<name>"
    metric: str  # "total_ms", "ms", "value" or "query_count"
    baseline: float  # median of the baseline samples
    current: float  # median of the current samples
    ratio: float  # current / baseline
    noise: float  # relative noise the change was judged against (0.05 = 5 %)
    kind: str  # "regression", "improvement" or "query_count"
    limit: float = 0.0  # the ratio it had to pass: above it for regressions, below for improvements
    p_value: float | None = None  # Mann-Whitney p-value when the samples allowed the test


@dataclasses.dataclass
class Comparison:
    """What changed between a baseline and the current run(s)."""

    regressions: list[Change]
    improvements: list[Change]
    query_changes: list[QueryChange]
    missing: list[str]  # tests in the baseline that did not run (or were skipped)
    new: list[str]  # tests that ran but are not in the baseline
    threshold: float
    suite_noise: float = 0.0  # relative noise of the whole suite (pooled baseline spread, spread of ratios)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def flagged(self) -> bool:
        """Whether a regression was found, or a test's statement count grew beyond the allowance."""
        return bool(self.regressions) or any(q.flagged for q in self.query_changes)


@dataclasses.dataclass
class _Rule:
    """How timing changes are judged."""

    threshold: float
    alpha: float
    noise_factor: float
    suite_noise: float


def _judge(key: str, metric: str, base: Sequence[float], current: Sequence[float], rule: _Rule,
          floor: float) -> Change | None:
    """A regression or improvement of ``current`` against ``base``; None when it is within noise."""
    before, after = statistics.median(base), statistics.median(current)
    if before <= 0 or abs(after - before) < floor:
        return None
    ratio = after / before
    slower = ratio >= 1
    size = ratio if slower else (before / after if after > 0 else math.inf)
    noise = max(relative_noise(base), relative_noise(current), rule.suite_noise)
    if mann_whitney_decides(len(base), len(current), rule.alpha):
        p_value = mann_whitney_greater(*((base, current) if slower else (current, base)))
        limit = 1 + rule.threshold
    else:
        p_value, limit = None, 1 + max(rule.threshold, rule.noise_factor * noise)
    if size <= limit or (p_value is not None and p_value >= rule.alpha):
        return None
    if slower:
        return Change(key, metric, before, after, ratio, noise, "regression", limit, p_value)
    return Change(key, metric, before, after, ratio, noise, "improvement", 1 / limit, p_value)


def _pairs(baseline: Mapping[str, Any], current: Mapping[str, Any], common: Sequence[str],
           same_tests: bool) -> Iterator[tuple[str, str, list[float], list[float], bool]]:
    """(key, metric, baseline samples, current samples, uses the ms floor) of every compared series;
    aggregates only when the same tests ran (a subset's suite time is not comparable)."""
    base_tests, cur_tests = baseline["tests"], current["tests"]
    for test_id in common:
        yield test_id, "total_ms", base_tests[test_id]["total_ms"], cur_tests[test_id]["total_ms"], True
    for name, entry in baseline["aggregates"].items():
        if same_tests and name in current["aggregates"]:
            yield f"aggregate:{name}", "ms", entry["samples"], current["aggregates"][name], True
    for test_id in common:
        base_custom, cur_custom = base_tests[test_id].get("custom", {}), cur_tests[test_id]["custom"]
        for name in base_custom:
            if name in cur_custom:
                yield f"custom:{test_id}:{name}", "value", base_custom[name], cur_custom[name], False


def _suite_noise(baseline: Mapping[str, Any], current: Mapping[str, Any], common: Sequence[str],
                 floor: float) -> float:
    """The larger of the ratio_spread and the baseline's pooled_noise, over the tests whose baseline
    median is above the floor (sub-floor tests are noise dominated)."""
    pairs = [(baseline["tests"][t]["total_ms"], current["tests"][t]["total_ms"]) for t in common]
    timed = [(base, now) for base, now in pairs if 0 < statistics.median(base) and statistics.median(base) >= floor]
    ratios = [statistics.median(now) / statistics.median(base) for base, now in timed]
    return max(ratio_spread(ratios), pooled_noise(base for base, _ in timed))


def _notes(baseline: Mapping[str, Any]) -> list[str]:
    """Warnings about comparing runs from different machines or Pythons."""
    recorded, here = baseline.get("machine", {}), environment()
    differ = [key for key in ("python", "platform", "cpu_count") if recorded.get(key) != here[key]]
    return [f"the baseline was measured elsewhere ({key} {recorded.get(key)}, now {here[key]}); "
            "timings may differ for that reason alone" for key in differ]


def compare(baseline: Mapping[str, Any], runs: Sequence[Run], wall_seconds: Sequence[float],
            threshold: float = DEFAULT_THRESHOLD, *, alpha: float = ALPHA, noise_factor: float = NOISE_FACTOR,
            min_delta_ms: float = MIN_DELTA_MS, query_allowance: float = 0) -> Comparison:
    """Compare the current ``runs`` (one list of TestMetrics per repetition) with ``baseline``; a test
    whose statement count grew by more than ``query_allowance`` flags the run."""
    current = collect(runs, wall_seconds)
    base_tests, cur_tests = baseline["tests"], current["tests"]
    common = [test_id for test_id in base_tests if test_id in cur_tests]
    missing = [test_id for test_id in base_tests if test_id not in cur_tests]
    new = [test_id for test_id in cur_tests if test_id not in base_tests]
    suite_noise = _suite_noise(baseline, current, common, min_delta_ms)
    rule = _Rule(threshold, alpha, noise_factor, suite_noise)
    changes = [_judge(key, metric, base, now, rule, min_delta_ms if timed else 0.0)
               for key, metric, base, now, timed in _pairs(baseline, current, common, not missing and not new)]
    queries = [query_change(t, base_tests[t], cur_tests[t], query_allowance) for t in common]
    return Comparison(
        regressions=[c for c in changes if c is not None and c.kind == "regression"],
        improvements=[c for c in changes if c is not None and c.kind == "improvement"],
        query_changes=[c for c in queries if c is not None],
        missing=missing,
        new=new,
        threshold=threshold,
        suite_noise=suite_noise,
        notes=_notes(baseline),
    )


def _changes_table(changes: Sequence[Change]) -> str:
    """Flagged entries with their baseline, current, ratio, noise and p-value."""
    return format_table(
        ["test / metric", "metric", "baseline", "current", "ratio", "limit", "noise", "p"],
        [[c.key, c.metric, format_number(c.baseline), format_number(c.current), f"{c.ratio:.2f}x", f"{c.limit:.2f}x",
          f"{c.noise:.1%}", "-" if c.p_value is None else f"{c.p_value:.4f}"] for c in changes],
        text_columns=2,
    )


def format_comparison(c: Comparison) -> str:
    """The comparison as printed after a run."""
    verdict = "REGRESSED" if c.flagged else "no regression"
    out = [f"baseline comparison: {verdict} (threshold {c.threshold:.0%}, suite noise {c.suite_noise:.1%}): "
           f"{len(c.regressions)} regressions, {len(c.improvements)} improvements, "
           f"{len(c.query_changes)} query count changes"]
    out += [f"  note: {note}" for note in c.notes]
    for title, changes in (("Regressions", c.regressions), ("Improvements", c.improvements)):
        if changes:
            out += ["", title, _changes_table(changes)]
    if c.query_changes:
        out += format_query_changes(c.query_changes)
    for title, ids in (("Missing tests (in the baseline, not measured now)", c.missing),
                       ("New tests (not in the baseline)", c.new)):
        if ids:
            out += ["", title, *(f"  {test_id}" for test_id in ids)]
    return "\n".join(out)


# --- confirming suspects ---------------------------------------------------------------

#: Samples per side that let the Mann-Whitney test decide (see mann_whitney_decides).
CONFIRM_SAMPLES = 5


def suspects(baseline: Mapping[str, Any], comparison: Comparison) -> list[str]:
    """Test ids flagged as timing regressions (aggregates and custom metrics excluded)."""
    return [c.key for c in comparison.regressions if c.key in baseline["tests"]]


def confirm(baseline: Mapping[str, Any], comparison: Comparison, runs: Sequence[Run], wall_seconds: Sequence[float],
            extra_runs: Sequence[Run], extra_walls: Sequence[float]) -> Comparison:
    """Judge the suspected tests again with extra runs of just those tests.

    One sample per test cannot tell a scheduler hiccup from a regression; with
    the extra samples the suspects are judged by their distributions. Other
    entries (aggregates, custom metrics) keep their first verdict.
    """
    flagged = set(suspects(baseline, comparison))
    again = compare(baseline, [*runs, *extra_runs], [*wall_seconds, *extra_walls], comparison.threshold)
    confirmed = [c for c in again.regressions if c.key in flagged]
    kept = [c for c in comparison.regressions if c.key not in flagged]
    return dataclasses.replace(comparison, regressions=confirmed + kept)
