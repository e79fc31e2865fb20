"""Benchmark rows for application code: a ``self.pool`` block's cost, and the leak check's per-test cost.

Both are differences measured in one run, alternating the two variants so a
machine that slows down mid-run affects both alike: a block on ``self.pool``
against the same statement on ``self.conn``; the per-test rollback with the
leak check's query in its round trip against the plain rollback.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from ..config.settings import Settings
from ..measure.metrics import TestMetrics
from ..testcase.case import TDDTestCase

#: What each row times, and its target for the median (ms).
OPERATIONS: dict[str, str] = {
    "pool_block_overhead": "body of 'with self.pool.connection() as c: c.execute(SELECT 1)' minus the body of "
                           "self.conn.execute(SELECT 1), paired tests",
    "leak_check_per_test": "cleanup of an empty test with the leak check minus without it (median of each "
                           "round of tests)",
}
TARGETS_MS: dict[str, float] = {"pool_block_overhead": 0.1, "leak_check_per_test": 0.02}
ROUNDS = 10


class AppCodeCase(TDDTestCase):
    """The bodies (no ``test_`` prefix: never collected as the project's tests)."""

    def bench_plain_select(self) -> None:
        self.conn.execute("SELECT 1")

    def bench_pool_select(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT 1")

    def bench_empty(self) -> None:
        """Nothing: the test context and its rollback alone."""


RunTests = Callable[[Sequence[TDDTestCase]], list[TestMetrics]]


def pool_block_overhead(run_tests: RunTests, count: int) -> list[float]:
    """Per pair of tests (pool block, plain statement, alternating): the difference of their bodies in ms."""
    metrics = run_tests([AppCodeCase(name) for _ in range(count + 3)
                         for name in ("bench_pool_select", "bench_plain_select")])[6:]
    return [pool.body_ms - plain.body_ms for pool, plain in zip(metrics[::2], metrics[1::2], strict=True)]


def leak_check_per_test(run_tests: RunTests, count: int, settings: Settings) -> list[float]:
    """Per round: median cleanup with the leak check minus median cleanup without it, in ms."""
    per_round = max(3, count // ROUNDS)
    differences = []
    original = settings.leak_check
    try:
        for _ in range(ROUNDS):
            medians = []
            for enabled in (True, False):
                settings.leak_check = enabled
                cleanup = [m.cleanup_ms for m in run_tests([AppCodeCase("bench_empty") for _ in range(per_round)])]
                medians.append(statistics.median(cleanup))
            differences.append(medians[0] - medians[1])
    finally:
        settings.leak_check = original
    return differences


def app_samples(run_tests: RunTests, count: int, settings: Settings) -> dict[str, list[float]]:
    """The samples of both rows."""
    samples = {"pool_block_overhead": pool_block_overhead(run_tests, count)}
    if settings.leak_check:  # turned on here, a check whose template has no triggers (when it needs them) fails
        samples["leak_check_per_test"] = leak_check_per_test(run_tests, count, settings)
    return samples
