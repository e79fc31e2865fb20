"""Statement count changes of a test against its baseline: exact, with the statement shapes behind them.

A test's statement count is not noisy: when every current run of a test ran
more statements than any of its baseline runs, the count grew, and one run is
enough to say so (no noise band, no confirmation runs). An increase beyond the
allowance (``[tool.tddkit.gate] query_count_increase``, else 0) flags the run.
The baseline keeps, per test, the calls of each statement shape, so a change
lists the shapes that are new and those that now run more often.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ..output import format_number, format_table

#: How much of a statement a listing shows.
SHAPE_WIDTH = 120


@dataclasses.dataclass
class QueryChange:
    """A test whose statement count moved against the baseline."""

    key: str  # test id
    baseline: float  # most statements of a baseline run (fewest, for a decrease; median, for a change)
    current: float  # fewest statements of a current run (most, for a decrease; a new count, for a change)
    kind: str  # "increase", "decrease" or "change" (counts never seen before, in neither direction)
    flagged: bool = False  # an increase beyond the allowance
    new_statements: list[tuple[str, int]] = dataclasses.field(default_factory=list)  # shape, calls now
    more_calls: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)  # shape, calls before, now
    metric: str = "query_count"

    @property
    def ratio(self) -> float:
        """current / baseline (inf from a baseline of 0)."""
        return self.current / self.baseline if self.baseline else float("inf")


def add_calls(calls: dict[str, int], statements: Sequence[tuple[str, int, float, float]]) -> None:
    """Keep in ``calls`` the most calls of each shape, from one run's ``TestMetrics.statements``."""
    for shape, count, _, _ in statements:
        if count > calls.get(shape, 0):
            calls[shape] = count


def query_change(test_id: str, base: Mapping[str, Any], current: Mapping[str, Any],
                 allowance: float = 0) -> QueryChange | None:
    """The change of one test (entries as the baseline stores them), or None when its count is as before."""
    before, after = base["query_count"], current["query_count"]
    if min(after) > max(before):
        change = QueryChange(test_id, max(before), min(after), "increase")
        change.flagged = change.current - change.baseline > allowance
    elif max(after) < min(before):
        change = QueryChange(test_id, min(before), max(after), "decrease")
    elif set(after) - set(before):
        change = QueryChange(test_id, statistics.median(before),
                             statistics.median_low(sorted(set(after) - set(before))), "change")
    else:
        return None
    known, now = base.get("statements"), current.get("statements", {})
    if known is not None and change.kind != "decrease":  # baselines before statement shapes have none
        change.new_statements = [(shape, calls) for shape, calls in now.items() if shape not in known]
        change.more_calls = [(shape, known[shape], calls) for shape, calls in now.items()
                             if shape in known and calls > known[shape]]
    return change


def _difference(change: QueryChange) -> str:
    if change.kind == "change":
        return "changed"
    text = f"{change.current - change.baseline:+g}"
    return f"{text} FLAGGED" if change.flagged else text


def format_query_changes(changes: Sequence[QueryChange]) -> list[str]:
    """The query count changes as printed in the comparison, with the shapes behind each."""
    out = ["", "Query count changes (exact: an increase beyond query_count_increase flags the run)", format_table(
        ["test", "baseline", "current", "change"],
        [[c.key, format_number(c.baseline, "count"), format_number(c.current, "count"), _difference(c)]
         for c in changes],
    )]
    for change in changes:
        if change.new_statements or change.more_calls:
            out.append(f"  {change.key}:")
            out += [f"    new: {shape[:SHAPE_WIDTH]} ({calls} calls)" for shape, calls in change.new_statements]
            out += [f"    more calls: {shape[:SHAPE_WIDTH]} ({before} -> {now})"
                    for shape, before, now in change.more_calls]
    return out
