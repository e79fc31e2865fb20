"""The CI performance gate: a run's measured tests against fixed limits (``--gate``).

The limits are ``[tool.tddkit.gate]`` (defaults in ``config.DEFAULT_GATE``):
``average_test_ms``, ``max_test_ms``, ``fixture_setup_ms`` and ``suite_s``;
off unless set, ``max_queries_per_test`` (the statements of any one test) and
``query_count_increase`` (statements a test may run beyond its baseline, which
``--compare`` gives), and ``median_vs_history`` (the run's median test time over
the median of the medians of the last ``history_runs`` runs of the history,
``--history`` or ``history_dir``; it passes while the history is empty). A limit
that could not be measured (no test ran, no baseline, no history directory)
fails the gate.

Exit code: ``EXIT_GATE_FAILED`` (3) when the gate fails or a baseline
comparison flags a regression; distinct from 1 (a test failed), 2 (usage or
configuration error) and 5 (no tests). Test failures take precedence: a
failing suite's timings say little.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from ..exit_codes import EXIT_GATE_FAILED
from ..measure.metrics import TestMetrics
from ..measure.stats import statistic

__all__ = ["EXIT_GATE_FAILED", "GateCheck", "GateResult", "evaluate_gate", "format_gate", "gate_exit_code"]


class GateCheck(NamedTuple):
    """One limit of the gate: its value is None when it was not measured."""

    name: str
    limit: float
    value: float | None
    ok: bool


@dataclasses.dataclass
class GateResult:
    """The outcome of the performance gate."""

    passed: bool
    checks: list[GateCheck]
    failures: list[str]  # one sentence per failing limit


class _Run(NamedTuple):
    """What a limit is measured on: the measured tests, the wall seconds, the baseline's statement counts."""

    tests: Sequence[TestMetrics]
    wall: float | None
    baseline: Mapping[str, float] | None  # test id -> the most statements it ran in the baseline
    history: Sequence[Mapping[str, Any]] | None = None  # earlier runs' history entries (None: no history kept)


Measure = Callable[[_Run], tuple[float | None, str] | None]


def _mean_of(field: str) -> Measure:
    """The mean of one TestMetrics field over the tests, described as such."""
    return lambda run: (statistic((getattr(tm, field) for tm in run.tests), "mean"), f"mean of {len(run.tests)} tests")


def _largest_increase(run: _Run) -> tuple[float | None, str] | None:
    """The largest growth of a test's statement count over the baseline (tests new to it do not count)."""
    if run.baseline is None:
        return None
    grown = [(tm.query_count - run.baseline[tm.test_id], tm.test_id) for tm in run.tests if tm.test_id in run.baseline]
    return max(grown, default=(0.0, "no test in the baseline"))


def _over_history(run: _Run) -> tuple[float | None, str] | None:
    """The run's median test time over the median of the history's medians (0 while the history is empty)."""
    if run.history is None:
        return None
    from .history import median_of

    earlier = median_of(run.history, "individual_test")
    now = statistic((tm.total_ms for tm in run.tests), "median")
    if earlier is None or now is None:
        return 0.0, "no earlier run in the history"
    return (now / earlier if earlier > 0 else math.inf), f"median {now:.3f} ms vs {earlier:.3f} ms over " \
        f"{len(run.history)} earlier runs"


#: What each gate limit measures: (unit, function of the run -> (value, detail) or None when not measured,
#: why it could not be measured).
_GATE_MEASURES: dict[str, tuple[str, Measure, str]] = {
    "average_test_ms": ("ms", _mean_of("total_ms"), ""),
    "max_test_ms": ("ms", lambda run: max(((tm.total_ms, tm.test_id) for tm in run.tests), default=None), ""),
    "fixture_setup_ms": ("ms", _mean_of("setup_ms"), ""),
    "suite_s": ("s", lambda run: (run.wall, "wall time"), "no suite time"),
    "max_queries_per_test": ("statements", lambda run: max(((tm.query_count, tm.test_id) for tm in run.tests),
                                                           default=None), ""),
    "query_count_increase": ("statements", _largest_increase, "no baseline: run with --compare"),
    "median_vs_history": ("x", _over_history, "no history: pass --history DIR or set history_dir"),
}


def _gate_check(name: str, limit: float, run: _Run) -> tuple[GateCheck, str]:
    """One check and, when it fails, its sentence ('' when it passes)."""
    if name not in _GATE_MEASURES:
        return GateCheck(name, limit, None, False), f"unknown gate limit {name!r}; known: {', '.join(_GATE_MEASURES)}"
    unit, measure_of, missing = _GATE_MEASURES[name]
    value, detail = (measure_of(run) if run.tests else None) or (None, "")
    if value is None or not math.isfinite(value):
        return GateCheck(name, limit, None, False), f"{name}: not measured ({missing if run.tests else 'no tests ran'})"
    if value <= limit:
        return GateCheck(name, limit, value, True), ""
    suffix = f" ({detail})" if detail else ""
    shown = f"{value:g}" if unit == "statements" else f"{value:.2f}" if unit == "x" else f"{value:.1f}"
    return GateCheck(name, limit, value, False), f"{name}: {shown} {unit} > {limit:g} {unit}{suffix}"


def evaluate_gate(
    tests: Sequence[TestMetrics], wall_seconds: float | None, limits: Mapping[str, float], *,
    baseline_queries: Mapping[str, float] | None = None, history: Sequence[Mapping[str, Any]] | None = None,
) -> GateResult:
    """Check a run against ``limits`` (keys as config.DEFAULT_GATE and config.OPTIONAL_GATE); only measured
    tests count. ``baseline_queries``: the baseline's statement counts, for ``query_count_increase``;
    ``history``: the entries of earlier runs (``history.load``), for ``median_vs_history``."""
    run = _Run([tm for tm in tests if tm.measured], wall_seconds, baseline_queries, history)
    results = [_gate_check(name, float(limit), run) for name, limit in limits.items()]
    failures = [sentence for _, sentence in results if sentence]
    return GateResult(passed=not failures, checks=[check for check, _ in results], failures=failures)


def format_gate(gate: GateResult) -> str:
    """``performance gate: PASSED`` or ``FAILED`` and one line per failing limit."""
    if gate.passed:
        return "performance gate: PASSED"
    return "\n".join([f"performance gate: FAILED ({len(gate.failures)} of {len(gate.checks)} limits)",
                      *(f"  - {failure}" for failure in gate.failures)])


class Flags(Protocol):
    """Anything that can flag a run, such as a baseline comparison."""

    @property
    def flagged(self) -> bool: ...


def gate_exit_code(gate: GateResult | None = None, comparison: Flags | None = None) -> int:
    """EXIT_GATE_FAILED when the gate failed or ``comparison`` flagged the run, else 0 (test failures
    come first: the caller checks them before)."""
    failed = (gate is not None and not gate.passed) or (comparison is not None and comparison.flagged)
    return EXIT_GATE_FAILED if failed else 0
