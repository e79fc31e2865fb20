"""The checks after a run: save or compare the baseline, evaluate the CI gate; their exit code.

Used by ``python -m tddkit run`` and by the pytest plugin alike, so both print
the same lines and exit the same way (``EXIT_GATE_FAILED``, 3, when the gate
fails or a regression is flagged).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from ..config.settings import Settings
from ..exit_codes import EXIT_OK
from ..measure.metrics import TestMetrics

Runs = Sequence[Sequence[TestMetrics]]
Rerun = Callable[[Sequence[str], int], tuple[list[Any], list[float]]]


def run_checks(settings: Settings, runs: Runs, walls: Sequence[float], *, save_baseline_to: str | None = None,
               baseline: Mapping[str, Any] | None = None, gate: bool = False, rerun: Rerun | None = None,
               out: TextIO = sys.stderr) -> int:
    """Save or compare the baseline and evaluate the gate, as asked; EXIT_GATE_FAILED if any flags the run.

    ``rerun(test_ids, times)`` runs suspected regressions again to confirm them (without it, one
    comparison decides).
    """
    if not (save_baseline_to or baseline is not None or gate):
        return EXIT_OK  # nothing asked: nothing to import
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
                               {test_id: max(entry["query_count"]) for test_id, entry in baseline["tests"].items()})
        print(format_gate(result), file=out)
    return gate_exit_code(result, comparison)
