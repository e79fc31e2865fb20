"""The checks after a run: save or compare the baseline, evaluate the CI gate; their exit code.

Used by ``python -m tddkit run`` and by the pytest plugin alike, so both print
the same lines and exit the same way (``EXIT_GATE_FAILED``, 3, when the gate
fails or a regression is flagged).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..config.settings import Settings
from ..exit_codes import EXIT_OK
from ..measure.metrics import TestMetrics

if TYPE_CHECKING:
    from .gate import GateResult
    from .regressions import Comparison

Runs = Sequence[Sequence[TestMetrics]]
Rerun = Callable[[Sequence[str], int], tuple[list[Any], list[float]]]


@dataclasses.dataclass
class Checks:
    """What the checks found: the exit code, the baseline comparison and the gate's result (None when not asked)."""

    code: int = EXIT_OK
    comparison: Comparison | None = None
    gate: GateResult | None = None
    baseline: Mapping[str, Any] | None = None


def run_checks(settings: Settings, runs: Runs, walls: Sequence[float], **options: Any) -> int:
    """``check_run``'s exit code."""
    return check_run(settings, runs, walls, **options).code


def check_run(settings: Settings, runs: Runs, walls: Sequence[float], *, save_baseline_to: str | None = None,
              baseline: Mapping[str, Any] | None = None, gate: bool = False, rerun: Rerun | None = None,
              history: Sequence[Mapping[str, Any]] | None = None, out: TextIO = sys.stderr) -> Checks:
    """Save or compare the baseline and evaluate the gate, as asked; the exit code is EXIT_GATE_FAILED if any
    flags the run.

    ``rerun(test_ids, times)`` runs suspected regressions again to confirm them (without it, one
    comparison decides). ``history``: earlier runs' entries (None when no history is kept), for the gate.
    """
    if not (save_baseline_to or baseline is not None or gate):
        return Checks()  # nothing asked: nothing to import
    from .baseline import build_baseline, save_baseline
    from .gate import evaluate_gate, format_gate, gate_exit_code
    from .regressions import CONFIRM_SAMPLES, compare, confirm, format_comparison, suspects

    comparison = result = None
    if save_baseline_to:
        path = settings.resolve(save_baseline_to)
        save_baseline(str(path), build_baseline(runs, walls))
        print(f"tddkit: baseline of {len(runs)} run(s) saved to {path}", file=out)
    if baseline is not None:
        comparison = compare(baseline, runs, walls, settings.regression_threshold,
                             query_allowance=settings.gate.get("query_count_increase", 0))
        suspected = suspects(baseline, comparison)
        if suspected and rerun is not None and len(runs) < CONFIRM_SAMPLES:
            print(f"tddkit: confirming {len(suspected)} suspected regression(s) with "
                  f"{CONFIRM_SAMPLES - len(runs)} more run(s) of those tests", file=out)
            comparison = confirm(baseline, comparison, runs, walls, *rerun(suspected, CONFIRM_SAMPLES - len(runs)))
        print(format_comparison(comparison), file=out)
    if gate:
        result = evaluate_gate(runs[-1], walls[-1], settings.gate, baseline_queries=None if baseline is None else
                               {test_id: max(entry["query_count"]) for test_id, entry in baseline["tests"].items()},
                               history=history)
        print(format_gate(result), file=out)
    return Checks(gate_exit_code(result, comparison), comparison, result, baseline)
