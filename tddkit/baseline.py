"""Regression detection against a saved baseline, and the CI performance gate.

A baseline holds, per test, the samples of every repetition of the suite
(``--repeat N``): total and body time, query count, recorded custom metrics;
plus suite-level aggregates. ``compare`` flags a test as a regression only
when it is both slower than the threshold (20 % by default, on the median) and
slower than the noise: by a one-sided Mann-Whitney U test (alpha 0.01) when
both sides have samples enough to reach alpha (5 vs 5, 4 vs 5, 3 vs 10),
otherwise by a noise band, 3 noise sigmas wide, from the spread of each test's
samples, the spread of the baseline pooled over tests, and the spread of the
per-test ratios across the suite (a machine that is uniformly noisier widens
the band; a minority of tests that got slower, or all tests slower alike, do
not). Changes smaller than an absolute floor (1 ms)
are ignored: sub-ms tests are noise dominated. Query count changes are exact,
so any change is reported, but they do not flag the run. Improvements are
judged the same way, mirrored.

One sample per test cannot tell a scheduler hiccup of a few ms on a busy
machine from a regression of a few ms; on shared CI machines compare the
median of ``--repeat 3`` to ``5`` runs.

Exit code: ``EXIT_GATE_FAILED`` (3) when the gate fails or a regression is
flagged; distinct from 1 (a test failed), 2 (usage or configuration error) and
5 (no tests). Test failures take precedence: a failing suite's timings say
little.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
import tempfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .errors import ConfigError
from .metrics import TestMetrics
from .report import format_number, format_table, tddkit_version, compute_stats

FORMAT = "tddkit-baseline"
FORMAT_VERSION = 1
DEFAULT_BASELINE_PATH = ".tddkit/baseline.json"

#: Exit code of a failed gate or a flagged regression.
EXIT_GATE_FAILED = 3

DEFAULT_THRESHOLD = 0.20  # a regression is at least 20 % slower on the median
ALPHA = 0.01  # one-sided significance level of the Mann-Whitney test
NOISE_FACTOR = 3.0  # the noise band is this many noise "sigmas" wide
MIN_DELTA_MS = 1.0  # changes of the median below this are noise
MIN_TESTS_FOR_SPREAD = 3  # fewer tests than this: the suite-wide spread is unknown (0)
_IQR_PER_SIGMA = 1.349  # width of the central half of a normal distribution, in sigmas

Samples = Dict[str, List[float]]

#: Suite-level aggregates of one repetition: (name, value from the run's tests and wall seconds), in ms.
_AGGREGATES: Tuple[Tuple[str, Callable[[Sequence[TestMetrics], float], Optional[float]]], ...] = (
    ("individual_test_mean", lambda tests, wall: _stat(tests, "total_ms", "mean")),
    ("individual_test_median", lambda tests, wall: _stat(tests, "total_ms", "median")),
    ("fixture_setup_mean", lambda tests, wall: _stat(tests, "setup_ms", "mean")),
    ("suite_wall", lambda tests, wall: wall * 1000 if tests else None),
)


# --- measurements --------------------------------------------------------------------


def _stat(tests: Sequence[TestMetrics], field: str, which: str) -> Optional[float]:
    """A statistic (``mean``, ``median``...) of one TestMetrics field; None without tests."""
    stats = compute_stats([getattr(tm, field) for tm in tests])
    return None if stats is None else getattr(stats, which)


def _finite(value: Optional[float]) -> bool:
    return value is not None and math.isfinite(value)


def _measured(run: Sequence[TestMetrics]) -> List[TestMetrics]:
    """The tests of a run that were measured: not skipped, and not the placeholder of a class or
    module fixture error (an ``error`` record without timings)."""
    return [tm for tm in run if tm.outcome != "skipped" and not (tm.outcome == "error" and tm.total_ms == 0)]


def _add_test(entry: Dict[str, Any], tm: TestMetrics) -> None:
    """Append one run's samples of a test to its entry."""
    entry["outcome"] = tm.outcome
    for field in ("total_ms", "body_ms", "query_count"):
        entry[field].append(getattr(tm, field))
    for metric in tm.custom:
        if _finite(metric.value):
            entry["custom"].setdefault(metric.name, []).append(float(metric.value))


def _collect(runs: Sequence[Sequence[TestMetrics]], wall_seconds: Sequence[float]) -> Dict[str, Any]:
    """Samples of repeated runs: ``tests`` (per test id) and ``aggregates`` (per name), as stored."""
    if len(runs) != len(wall_seconds):
        raise ValueError(f"{len(runs)} runs but {len(wall_seconds)} wall times; pass one per run")
    tests: Dict[str, Dict[str, Any]] = {}
    aggregates: Samples = {name: [] for name, _ in _AGGREGATES}
    for run, wall in zip(runs, wall_seconds):
        measured = _measured(run)
        for tm in measured:
            entry = tests.setdefault(tm.test_id, {"total_ms": [], "body_ms": [], "query_count": [], "custom": {}})
            _add_test(entry, tm)
        for name, value_of in _AGGREGATES:
            value = value_of(measured, wall)
            if _finite(value):
                aggregates[name].append(value)
    return {"tests": tests, "aggregates": {name: values for name, values in aggregates.items() if values}}


def _machine() -> Dict[str, Any]:
    """Where a baseline was measured: runs on another machine or Python compare poorly."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def build_baseline(runs: Sequence[Sequence[TestMetrics]], wall_seconds: Sequence[float]) -> Dict[str, Any]:
    """The baseline document of ``runs`` (one list of TestMetrics per repetition) and their wall times (s)."""
    samples = _collect(runs, wall_seconds)
    summaries = {}
    for name, values in samples["aggregates"].items():
        stats = compute_stats(values)
        summaries[name] = {"unit": "ms", "median": stats.median, "mean": stats.mean, "samples": values}
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tddkit_version": tddkit_version(),
        "machine": _machine(),
        "repeat": len(runs),
        "tests": samples["tests"],
        "aggregates": summaries,
    }


# --- files ---------------------------------------------------------------------------


def save_baseline(path: str, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` as JSON, atomically (a temporary file, then os.replace)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def load_baseline(path: str) -> Dict[str, Any]:
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


# --- statistics ----------------------------------------------------------------------


def ranks(values: Sequence[float]) -> List[float]:
    """1-based ranks of ``values``; tied values share their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in order[start:end + 1]:
            result[position] = (start + end) / 2 + 1
        start = end + 1
    return result


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value that ``y`` tends to be larger than ``x``: Mann-Whitney U, normal
    approximation with tie and continuity corrections. 1.0 when a side is empty or all values tie."""
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        return 1.0
    n = n1 + n2
    u = sum(ranks([*x, *y])[n1:]) - n2 * (n2 + 1) / 2
    ties = sum(t**3 - t for t in Counter([*x, *y]).values())
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return statistics.NormalDist().cdf(-z)


def mann_whitney_decides(n1: int, n2: int, alpha: float = ALPHA) -> bool:
    """Whether samples this large can reach ``alpha`` at all (3 vs 3 cannot: p >= 0.05)."""
    return min(n1, n2) >= 3 and mann_whitney_greater(range(n1), range(n1, n1 + n2)) < alpha


def relative_noise(samples: Sequence[float]) -> float:
    """The spread of one metric's samples: standard deviation over median; 0.0 below 2 samples."""
    stats = compute_stats(samples)
    if stats is None or stats.count < 2 or stats.median <= 0:
        return 0.0
    return stats.stddev / stats.median


def pooled_noise(series: Iterable[Sequence[float]]) -> float:
    """The relative noise of a machine, pooled over tests: root mean square of their relative_noise.
    One test's 3 samples estimate its spread poorly; the machine's noise is shared by all tests.
    0.0 when no test has 2 samples."""
    noises = [relative_noise(samples) ** 2 for samples in series if len(samples) >= 2]
    return math.sqrt(statistics.fmean(noises)) if noises else 0.0


def ratio_spread(ratios: Sequence[float]) -> float:
    """The relative noise of per-test ratios (current / baseline) across a suite, as a sigma.

    The shortest interval holding half the ratios (~1.349 sigma for normal noise), over its
    centre: a uniform shift (every test 3x) or a minority of slowed tests keeps it small, a
    noisy machine widens it. 0.0 with fewer than MIN_TESTS_FOR_SPREAD ratios.
    """
    values = sorted(ratios)
    if len(values) < MIN_TESTS_FOR_SPREAD:
        return 0.0
    half = (len(values) + 1) // 2
    width, start = min((values[i + half - 1] - values[i], i) for i in range(len(values) - half + 1))
    centre = statistics.median(values[start:start + half])
    return width / _IQR_PER_SIGMA / centre if centre > 0 else 0.0


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
    p_value: Optional[float] = None  # Mann-Whitney p-value when the samples allowed the test


@dataclasses.dataclass
class Comparison:
    """What changed between a baseline and the current run(s)."""

    regressions: List[Change]
    improvements: List[Change]
    query_changes: List[Change]
    missing: List[str]  # tests in the baseline that did not run (or were skipped)
    new: List[str]  # tests that ran but are not in the baseline
    threshold: float
    suite_noise: float = 0.0  # relative noise of the whole suite (pooled baseline spread, spread of ratios)
    notes: List[str] = dataclasses.field(default_factory=list)

    @property
    def flagged(self) -> bool:
        """Whether a regression was found (query count changes alone do not flag)."""
        return bool(self.regressions)


@dataclasses.dataclass
class _Rule:
    """How timing changes are judged."""

    threshold: float
    alpha: float
    noise_factor: float
    suite_noise: float


def _judge(key: str, metric: str, base: Sequence[float], current: Sequence[float], rule: _Rule,
          floor: float) -> Optional[Change]:
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


def _query_change(test_id: str, base: Sequence[float], current: Sequence[float]) -> Optional[Change]:
    """A query count seen now but never in the baseline; None when every count was seen before."""
    new_counts = sorted(set(current) - set(base))
    if not new_counts:
        return None
    before, after = statistics.median(base), statistics.median_low(new_counts)
    ratio = after / before if before else math.inf
    return Change(test_id, "query_count", before, after, ratio, 0.0, "query_count")


def _pairs(baseline: Mapping[str, Any], current: Mapping[str, Any], common: Sequence[str],
           same_tests: bool) -> Iterator[Tuple[str, str, List[float], List[float], bool]]:
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


def _notes(baseline: Mapping[str, Any]) -> List[str]:
    """Warnings about comparing runs from different machines or Pythons."""
    recorded, here = baseline.get("machine", {}), _machine()
    differ = [key for key in ("python", "platform", "cpu_count") if recorded.get(key) != here[key]]
    return [f"the baseline was measured elsewhere ({key} {recorded.get(key)}, now {here[key]}); "
            "timings may differ for that reason alone" for key in differ]


def compare(
    baseline: Mapping[str, Any],
    runs: Sequence[Sequence[TestMetrics]],
    wall_seconds: Sequence[float],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    alpha: float = ALPHA,
    noise_factor: float = NOISE_FACTOR,
    min_delta_ms: float = MIN_DELTA_MS,
) -> Comparison:
    """Compare the current ``runs`` (one list of TestMetrics per repetition) with ``baseline``."""
    current = _collect(runs, wall_seconds)
    base_tests, cur_tests = baseline["tests"], current["tests"]
    common = [test_id for test_id in base_tests if test_id in cur_tests]
    missing = [test_id for test_id in base_tests if test_id not in cur_tests]
    new = [test_id for test_id in cur_tests if test_id not in base_tests]
    suite_noise = _suite_noise(baseline, current, common, min_delta_ms)
    rule = _Rule(threshold, alpha, noise_factor, suite_noise)
    changes = [_judge(key, metric, base, now, rule, min_delta_ms if timed else 0.0)
               for key, metric, base, now, timed in _pairs(baseline, current, common, not missing and not new)]
    queries = [_query_change(t, base_tests[t]["query_count"], cur_tests[t]["query_count"]) for t in common]
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
        out += ["", "Query count changes (reported, not flagged)", format_table(
            ["test", "baseline", "current"],
            [[q.key, format_number(q.baseline, "count"), format_number(q.current, "count")] for q in c.query_changes],
        )]
    for title, ids in (("Missing tests (in the baseline, not measured now)", c.missing),
                       ("New tests (not in the baseline)", c.new)):
        if ids:
            out += ["", title, *(f"  {test_id}" for test_id in ids)]
    return "\n".join(out)


# --- the gate ------------------------------------------------------------------------


class GateCheck(NamedTuple):
    """One limit of the gate: its value is None when it was not measured."""

    name: str
    limit: float
    value: Optional[float]
    ok: bool


@dataclasses.dataclass
class GateResult:
    """The outcome of the performance gate."""

    passed: bool
    checks: List[GateCheck]
    failures: List[str]  # one sentence per failing limit


#: What each gate limit measures: (unit, function of the measured tests and wall seconds ->
#: (value, detail) or None when not measured).
_GATE_MEASURES: Dict[str, Tuple[str, Callable[[Sequence[TestMetrics], float], Optional[Tuple[float, str]]]]] = {
    "average_test_ms": ("ms", lambda tests, wall: (_stat(tests, "total_ms", "mean"), f"mean of {len(tests)} tests")),
    "max_test_ms": ("ms", lambda tests, wall: max(((tm.total_ms, tm.test_id) for tm in tests), default=None)),
    "fixture_setup_ms": ("ms", lambda tests, wall: (_stat(tests, "setup_ms", "mean"), f"mean of {len(tests)} tests")),
    "suite_s": ("s", lambda tests, wall: (wall, "wall time")),
}


def _gate_check(name: str, limit: float, tests: Sequence[TestMetrics], wall: Optional[float]) -> Tuple[GateCheck, str]:
    """One check and, when it fails, its sentence ('' when it passes)."""
    if name not in _GATE_MEASURES:
        return GateCheck(name, limit, None, False), f"unknown gate limit {name!r}; known: {', '.join(_GATE_MEASURES)}"
    unit, measure_of = _GATE_MEASURES[name]
    measured = measure_of(tests, wall) if tests else None
    if measured is None or not _finite(measured[0]):
        reason = "no tests ran" if not tests else "no suite time"
        return GateCheck(name, limit, None, False), f"{name}: not measured ({reason})"
    value, detail = measured
    if value <= limit:
        return GateCheck(name, limit, value, True), ""
    suffix = f" ({detail})" if detail else ""
    return GateCheck(name, limit, value, False), f"{name}: {value:.1f} {unit} > {limit:g} {unit}{suffix}"


def evaluate_gate(
    tests: Sequence[TestMetrics], wall_seconds: Optional[float], limits: Mapping[str, float]
) -> GateResult:
    """Check a run against ``limits`` (keys as config.DEFAULT_GATE); skipped tests are not measured."""
    measured = _measured(tests)
    results = [_gate_check(name, float(limit), measured, wall_seconds) for name, limit in limits.items()]
    failures = [sentence for _, sentence in results if sentence]
    return GateResult(passed=not failures, checks=[check for check, _ in results], failures=failures)


def format_gate(gate: GateResult) -> str:
    """``performance gate: PASSED`` or ``FAILED`` and one line per failing limit."""
    if gate.passed:
        return "performance gate: PASSED"
    return "\n".join([f"performance gate: FAILED ({len(gate.failures)} of {len(gate.checks)} limits)",
                      *(f"  - {failure}" for failure in gate.failures)])


def gate_exit_code(gate: Optional[GateResult] = None, comparison: Optional[Comparison] = None) -> int:
    """EXIT_GATE_FAILED when the gate failed or a regression was flagged, else 0 (test failures come first)."""
    failed = (gate is not None and not gate.passed) or (comparison is not None and comparison.flagged)
    return EXIT_GATE_FAILED if failed else 0


# --- confirming suspects ---------------------------------------------------------------

#: Samples per side that let the Mann-Whitney test decide (see mann_whitney_decides).
CONFIRM_SAMPLES = 5


def suspects(baseline: Mapping[str, Any], comparison: Comparison) -> List[str]:
    """Test ids flagged as timing regressions (aggregates and custom metrics excluded)."""
    return [c.key for c in comparison.regressions if c.key in baseline["tests"]]


def confirm(
    baseline: Mapping[str, Any],
    comparison: Comparison,
    runs: Sequence[Sequence[TestMetrics]],
    wall_seconds: Sequence[float],
    extra_runs: Sequence[Sequence[TestMetrics]],
    extra_walls: Sequence[float],
) -> Comparison:
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
