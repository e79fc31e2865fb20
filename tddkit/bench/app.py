"""Benchmark rows for application code: a ``self.pool`` block's cost, and the leak check's per-test cost.

Both are differences of paired tests in one run, alternating the two
variants so a machine that slows down mid-run affects both alike: a block on
``self.pool`` against the same statement on ``self.conn``; the per-test
rollback with the leak check's probe in its round trip against the plain
rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..config.settings import Settings
from ..measure.metrics import TestMetrics
from ..testcase.case import TDDTestCase

#: What each row times, and its target for the median (ms).
OPERATIONS: dict[str, str] = {
    "pool_block_overhead": "body of 'with self.pool.connection() as c: c.execute(SELECT 1)' minus the body of "
                           "self.conn.execute(SELECT 1), paired tests",
    "leak_check_per_test": "cleanup of an empty test with the leak check minus without it, paired tests",
}
TARGETS_MS: dict[str, float] = {"pool_block_overhead": 0.1, "leak_check_per_test": 0.02}


class AppCodeCase(TDDTestCase):
    """The bodies (no ``test_`` prefix: never collected as the project's tests)."""

    def bench_plain_select(self) -> None:
        self.conn.execute("SELECT 1")

    def bench_pool_select(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT 1")


class LeakCheckCase(TDDTestCase):
    """Empty bodies that turn the leak check on or off for their own cleanup."""

    settings: Settings

    def bench_checked(self) -> None:
        self.settings.leak_check = True

    def bench_unchecked(self) -> None:
        self.settings.leak_check = False


RunTests = Callable[[Sequence[TDDTestCase]], list[TestMetrics]]


def pool_block_overhead(run_tests: RunTests, count: int) -> list[float]:
    """Per pair of tests (pool block, plain statement, alternating): the difference of their bodies in ms."""
    metrics = run_tests([AppCodeCase(name) for _ in range(count + 3)
                         for name in ("bench_pool_select", "bench_plain_select")])[6:]
    return [pool.body_ms - plain.body_ms for pool, plain in zip(metrics[::2], metrics[1::2], strict=True)]


def leak_check_per_test(run_tests: RunTests, count: int, settings: Settings) -> list[float]:
    """Per pair of empty tests (one whose cleanup runs the check, one whose cleanup does not, the order
    alternating): the difference of their cleanups in ms. The class transaction begins with the check on."""
    order = [("bench_checked", "bench_unchecked"), ("bench_unchecked", "bench_checked")]
    names = [name for i in range(count + 3) for name in order[i % 2]]
    original, LeakCheckCase.settings = settings.leak_check, settings
    try:
        settings.leak_check = True
        metrics = run_tests([LeakCheckCase(name) for name in names])
    finally:
        settings.leak_check = original
    cleanup = {(i // 2, names[i]): m.cleanup_ms for i, m in enumerate(metrics)}
    return [cleanup[pair, "bench_checked"] - cleanup[pair, "bench_unchecked"] for pair in range(3, count + 3)]


def app_samples(run_tests: RunTests, count: int, settings: Settings) -> dict[str, list[float]]:
    """The samples of both rows."""
    samples = {"pool_block_overhead": pool_block_overhead(run_tests, count)}
    if settings.leak_check:  # off, a server without commit tracking has no triggers in the template to check with
        samples["leak_check_per_test"] = leak_check_per_test(run_tests, count, settings)
    return samples
