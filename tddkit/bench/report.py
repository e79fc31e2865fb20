"""The benchmark's results: what it measured, printed as tables and saved as JSON.

``tddkit.bench.suite`` runs the benchmark and returns a ``BenchReport``;
``format_bench`` prints it and ``write_bench_json`` saves every sample and
every derived number. Times are milliseconds unless a name says otherwise.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

from ..measure.stats import Stats, compute_stats, recommendation, success_rate
from ..output import document_header, environment, format_number, format_table, json_safe, write_json


def _stats_of(samples: Sequence[float]) -> Stats:
    """Statistics of a measured series (it always has samples)."""
    stats = compute_stats(samples)
    if stats is None:
        raise ValueError("a benchmark series has no samples")
    return stats


@dataclasses.dataclass
class Operation:
    """One benchmarked operation: its samples (ms) against its target."""

    name: str
    samples: list[float]
    target: float | None = None
    description: str = ""  # what one sample times

    @property
    def stats(self) -> Stats:
        return _stats_of(self.samples)

    @property
    def achieved(self) -> bool | None:
        """Whether the median meets the target; None without one."""
        return None if self.target is None else self.stats.median <= self.target

    @property
    def success_rate(self) -> float | None:
        return None if self.target is None else success_rate(self.samples, self.target)


def overall_success_rate(operations: Sequence[Operation]) -> float:
    """Mean success rate of the operations that have a target, in %."""
    rates = [op.success_rate for op in operations if op.success_rate is not None]
    return statistics.fmean(rates) if rates else 0.0


@dataclasses.dataclass
class ParallelRun:
    """The same tests run by concurrent threads and one after another."""

    body: str
    workers: int
    samples: list[float]  # total ms of each test of the concurrent run
    sequential_s: float
    parallel_s: float

    @property
    def stats(self) -> Stats:
        return _stats_of(self.samples)

    @property
    def speedup(self) -> float:
        return self.sequential_s / self.parallel_s

    @property
    def efficiency(self) -> float:
        """Speedup per worker, in %."""
        return 100.0 * self.speedup / self.workers


@dataclasses.dataclass
class Comparison:
    """Per-test setup + cleanup of another approach, against tddkit's."""

    approach: str
    per_test: str
    samples: list[float]
    baseline_ms: float  # tddkit's median per-test setup + cleanup

    @property
    def stats(self) -> Stats:
        return _stats_of(self.samples)

    @property
    def ratio(self) -> float:
        """How many times tddkit's median this approach's median is."""
        return self.stats.median / self.baseline_ms


@dataclasses.dataclass
class BenchReport:
    """Everything one benchmark run measured."""

    server: str
    postgresql: str
    iterations: dict[str, int]
    operations: list[Operation]
    parallel: list[ParallelRun]
    comparisons: list[Comparison]
    warmup: int  # uncounted runs before each measured series

    @property
    def overall_success_rate(self) -> float:
        return overall_success_rate(self.operations)

    @property
    def recommendation(self) -> str:
        return recommendation(self.overall_success_rate)

    def operation(self, name: str) -> Operation:
        return next(op for op in self.operations if op.name == name)


# --- printed ---------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    """A time cell: 3 decimals; 5 below 0.001 ms, which 3 would show as 0 (per-statement costs)."""
    return f"{value:.5f}" if value is not None and 0 < abs(value) < 0.001 else format_number(value)


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _parallel_lines(runs: Sequence[ParallelRun]) -> list[str]:
    """The concurrent runs against the same tests run one after another."""
    per_worker = runs[0].stats.count // runs[0].workers
    return [
        "",
        f"Parallel execution: {runs[0].workers} threads, each with its own TDDTestCase class and pooled connection, "
        f"{per_worker} test{'s' if per_worker != 1 else ''} each",
        "  sequential = the same tests one after another; efficiency = speedup / threads",
        format_table(
            ["test body", "tests", "per-test median", "per-test mean", "sequential s", "parallel s",
             "speedup", "efficiency %"],
            [[r.body, str(r.stats.count), format_number(r.stats.median), format_number(r.stats.mean),
              f"{r.sequential_s:.3f}", f"{r.parallel_s:.3f}", f"{r.speedup:.2f}x", f"{r.efficiency:.1f}"]
             for r in runs],
        ),
    ]


def _comparison_lines(report: BenchReport) -> list[str]:
    """tddkit's per-test setup + cleanup next to the other approaches'."""
    tddkit = report.operation("fixture_setup").stats
    rows = [["tddkit", "pooled connection, SAVEPOINT / ROLLBACK TO SAVEPOINT (fixture_setup)",
             str(tddkit.count), format_number(tddkit.median), format_number(tddkit.mean), "1x"]]
    rows += [[c.approach, c.per_test, str(c.stats.count), format_number(c.stats.median), format_number(c.stats.mean),
              f"{c.ratio:.0f}x"] for c in report.comparisons]
    return [
        "",
        "Per-test setup + cleanup, same server, same run (ms)",
        format_table(["approach", "per test", "samples", "median", "mean", "vs tddkit"], rows, text_columns=2),
        "",
        *(f"  {c.approach} {c.stats.median:.2f} ms = {c.ratio:.0f}x tddkit" for c in report.comparisons),
    ]


def format_bench(report: BenchReport) -> str:
    """The benchmark as printed: operations, parallel execution, comparisons."""
    here = environment()
    out = [
        "tddkit benchmark",
        f"  server: {report.server}",
        f"  PostgreSQL {report.postgresql}, Python {here['python']}, {here['cpu_count']} CPUs",
        "",
        format_table(
            ["operation", "samples", "mean", "median", "min", "max", "stddev", "target", "achieved", "success %"],
            [[op.name, str(op.stats.count),
              *(_ms(getattr(op.stats, f)) for f in ("mean", "median", "min", "max", "stddev")),
              _ms(op.target), _yes_no(op.achieved), _percent(op.success_rate)]
             for op in report.operations],
        ),
        "",
        "  times in ms; achieved = median within target; success % = samples within target",
        *(f"  {op.name:<19} {op.description}" for op in report.operations),
        f"  each series follows {report.warmup} uncounted runs; each benchmark class creates its temp schema "
        "once, in setUpTestData",
        "",
        f"Overall success rate: {report.overall_success_rate:.1f}%",
        f"Recommendation: {report.recommendation}",
    ]
    if report.parallel:
        out += _parallel_lines(report.parallel)
    if report.comparisons:
        out += _comparison_lines(report)
    return "\n".join(out)


# --- JSON ------------------------------------------------------------------------------


def _stats_dict(samples: list[float], stats: Stats) -> dict[str, Any]:
    return {**dataclasses.asdict(stats), "samples": samples}


def bench_to_dict(report: BenchReport) -> dict[str, Any]:
    """The JSON document of a benchmark run: every sample and every derived number."""
    document: dict[str, object] = {
        **document_header(postgresql=report.postgresql, server=report.server),
        "iterations": report.iterations,
        "warmup": report.warmup,
        "operations": {
            op.name: {
                "description": op.description,
                "unit": "ms",
                "target": op.target,
                "achieved": op.achieved,
                "success_rate": op.success_rate,
                **_stats_dict(op.samples, op.stats),
            }
            for op in report.operations
        },
        "overall_success_rate": report.overall_success_rate,
        "recommendation": report.recommendation,
        "parallel": [
            {"body": r.body, "workers": r.workers, "sequential_s": r.sequential_s, "parallel_s": r.parallel_s,
             "speedup": r.speedup, "efficiency": r.efficiency, "per_test": _stats_dict(r.samples, r.stats)}
            for r in report.parallel
        ],
        "comparisons": [
            {"approach": c.approach, "per_test": c.per_test, "tddkit_median_ms": c.baseline_ms, "ratio": c.ratio,
             **_stats_dict(c.samples, c.stats)}
            for c in report.comparisons
        ],
    }
    return json_safe(document)


def write_bench_json(path: str, report: BenchReport) -> None:
    """Write the JSON document of a benchmark run to ``path`` (atomically)."""
    write_json(path, bench_to_dict(report))
