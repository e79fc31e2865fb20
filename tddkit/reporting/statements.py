"""The run's statement statistics: every statement shape's calls and time across the tests, and their lines
in the printed report (the slowest shapes, the statements tests repeated)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any

from ..measure.metrics import TestMetrics
from ..measure.queries import OTHER
from ..measure.records import TESTS_PER_SHAPE, RunRecords
from ..output import format_number, format_table

#: Shapes the run's statistics keep (by total time); the rest are folded into OTHER.
RUN_SHAPES = 500


@dataclasses.dataclass
class ShapeStats:
    """One statement shape across a run: calls, time (ms), and the tests that ran it."""

    statement: str
    calls: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    test_count: int = 0
    tests: list[str] = dataclasses.field(default_factory=list)  # the first TESTS_PER_SHAPE of them

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


def run_statistics(tests: RunRecords | Iterable[TestMetrics], keep: int = RUN_SHAPES,
                   indices: Iterable[int] | None = None) -> list[ShapeStats]:
    """Every shape the tests ran (those at ``indices`` of the records: all by default), most total time first;
    beyond ``keep`` shapes, one OTHER entry."""
    records = tests if isinstance(tests, RunRecords) else RunRecords(list(tests))
    chosen = range(len(records)) if indices is None else indices if isinstance(indices, range) else list(indices)
    ids = records.ids
    totals = records.run_totals(chosen)  # every test's: summed as the tests were recorded
    if totals is None:
        totals = records.totals_of(chosen)
    shapes = {shape: ShapeStats(shape, calls, total_ms, max_ms, test_count, [ids[i] for i in first])
              for shape, calls, total_ms, max_ms, test_count, first in totals}  # in order of first use
    kept: list[ShapeStats] = []
    rest: dict[str, ShapeStats] = {}
    for stats in sorted(shapes.values(), key=lambda s: s.total_ms, reverse=True):
        if len(kept) < keep and stats.statement != OTHER:
            kept.append(stats)
        else:
            rest[stats.statement] = stats
    if rest:
        other = ShapeStats(OTHER, sum(s.calls for s in rest.values()), sum(s.total_ms for s in rest.values()),
                           max(s.max_ms for s in rest.values()))
        ran_other = [ids[i] for i in dict.fromkeys(i for i, shape, _, _, _ in records.statements(chosen)
                                                    if shape in rest)]
        other.test_count, other.tests = len(ran_other), ran_other[:TESTS_PER_SHAPE]
        kept.append(other)
    return kept


# --- printed ----------------------------------------------------------------------------------

#: Characters of a statement the printed report shows (the JSON has them whole).
STATEMENT_WIDTH = 70


def _cut(statement: str) -> str:
    return statement if len(statement) <= STATEMENT_WIDTH else statement[:STATEMENT_WIDTH - 1] + "…"


def _site(found: dict[str, Any]) -> str:
    """``file:line`` of a repeated statement, the file relative to the current directory when inside it."""
    try:
        relative = os.path.relpath(found["file"])
    except ValueError:  # another drive
        relative = ".."
    return f"{found['file'] if relative.startswith('..') else relative}:{found['line']}"


def format_statements(slowest: Sequence[ShapeStats], repeated: Sequence[dict[str, Any]]) -> list[str]:
    """The report's lines on the slowest statement shapes, and on the statements tests repeated (N+1, each
    with ``test_id``) with the line that issued them."""
    out: list[str] = []
    if slowest:
        out += ["", f"Slowest {len(slowest)} statements (by total time)", format_table(
            ["statement", "calls", "total ms", "mean ms", "max ms", "tests"],
            [[_cut(s.statement), str(s.calls), format_number(s.total_ms), format_number(s.mean_ms),
              format_number(s.max_ms), str(s.test_count)] for s in slowest],
        )]
    if repeated:
        out += ["", "Repeated statements (N+1)", format_table(
            ["test", "issued at", "statement", "calls"],
            [[f["test_id"], _site(f), _cut(f["statement"]), str(f["calls"])] for f in repeated], text_columns=3,
        )]
    return out
