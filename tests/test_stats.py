"""tddkit.measure.stats on known inputs (no database needed)."""

import random
import statistics
import sys
import unittest
from pathlib import Path

if __name__ == "__main__":  # python tests/test_x.py: this checkout first on sys.path, not an installed tddkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tddkit.measure.stats import (
    Stats,
    classify,
    compute_stats,
    mann_whitney_decides,
    mann_whitney_greater,
    pooled_noise,
    ranks,
    ratio_spread,
    recommendation,
    relative_noise,
    statistic,
    success_rate,
)


class ComputeStatsTests(unittest.TestCase):
    def test_known_values(self) -> None:
        values = [1, 2, 3, 4, 100]
        stats = compute_stats(values)
        self.assertIsInstance(stats, Stats)
        self.assertEqual(stats.count, 5)
        self.assertEqual(stats.mean, 22.0)
        self.assertEqual(stats.median, 3.0)
        self.assertEqual(stats.min, 1.0)
        self.assertEqual(stats.max, 100.0)
        self.assertAlmostEqual(stats.stddev, statistics.stdev(values))
        # inclusive interpolation: position 0.95 * (5 - 1) = 3.8, between 4 and 100
        self.assertAlmostEqual(stats.p95, 4 + 0.8 * (100 - 4))

    def test_median_p95_min_max_and_stdev_are_the_statistics_module_s_to_the_last_bit(self) -> None:
        rng = random.Random(5)
        for size in (*range(2, 45), 99, 100, 101, 1000, 20_001):
            values = [rng.lognormvariate(-1, 2) * rng.choice((1, 1, 0, -1)) for _ in range(size)]  # as memory growth
            stats = compute_stats(values)
            self.assertEqual((stats.median, stats.p95, stats.min, stats.max, stats.stddev),
                             (statistics.median(values), statistics.quantiles(values, n=20, method="inclusive")[-1],
                              min(values), max(values), statistics.stdev(values)), size)
        self.assertEqual(compute_stats([0.0, -0.0, 0.0]).stddev, 0.0)

    def test_one_value(self) -> None:
        stats = compute_stats([7.5])
        self.assertEqual((stats.count, stats.mean, stats.median, stats.p95), (1, 7.5, 7.5, 7.5))
        self.assertEqual((stats.min, stats.max, stats.stddev), (7.5, 7.5, 0.0))

    def test_no_values(self) -> None:
        self.assertIsNone(compute_stats([]))
        self.assertIsNone(statistic([], "mean"))

    def test_one_statistic_of_a_generator(self) -> None:
        self.assertEqual(statistic((v for v in (1.0, 2.0, 9.0)), "median"), 2.0)
        self.assertEqual(statistic([1.0, 2.0, 9.0], "mean"), 4.0)

    def test_success_rate_counts_the_target_itself_as_within(self) -> None:
        self.assertEqual(success_rate([1.0, 2.0, 3.0, 4.0, 100.0], 3.0), 60.0)
        self.assertEqual(success_rate([5.0], 1.0), 0.0)


class RecommendationTests(unittest.TestCase):
    def test_boundaries(self) -> None:
        cases = [(100, "excellent"), (95, "excellent"), (94.9, "good"), (80, "good"), (79.9, "moderate"),
                 (60, "moderate"), (59.9, "poor"), (0, "poor")]
        for rate, word in cases:
            with self.subTest(rate=rate):
                self.assertTrue(recommendation(rate).startswith(word + ":"), recommendation(rate))


class ClassifyTests(unittest.TestCase):
    def test_severities(self) -> None:
        self.assertIsNone(classify(10.0, 10.0))
        self.assertIsNone(classify(5.0, 10.0))
        self.assertEqual(classify(12.0, 10.0), "warning")
        self.assertEqual(classify(15.0, 10.0), "warning")
        self.assertEqual(classify(20.0, 10.0), "critical")


class SignificanceAndNoiseTests(unittest.TestCase):
    """Known inputs; the p-values equal scipy.stats.mannwhitneyu(y, x, alternative="greater",
    method="asymptotic", use_continuity=True)."""

    def test_mann_whitney_separated_samples(self):
        self.assertAlmostEqual(mann_whitney_greater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]), 0.0060928902, places=9)
        self.assertAlmostEqual(mann_whitney_greater([3, 4, 2, 6, 2, 5], [9, 7, 5, 10, 6, 8]), 0.0062959557, places=9)
        self.assertGreater(mann_whitney_greater([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]), 0.99)  # the other tail

    def test_mann_whitney_with_ties(self):
        self.assertAlmostEqual(mann_whitney_greater([1, 2, 2, 3, 3], [2, 3, 3, 4, 5]), 0.0631896938, places=9)
        self.assertAlmostEqual(mann_whitney_greater([5, 5, 5, 5], [5, 5, 5, 5, 6]), 0.2511674772, places=9)
        self.assertAlmostEqual(mann_whitney_greater([1, 2, 3], [1, 2, 3]), 0.5902615116, places=9)
        self.assertEqual(mann_whitney_greater([4, 4], [4, 4, 4]), 1.0)  # all tied: no evidence
        self.assertEqual(mann_whitney_greater([], [1.0]), 1.0)

    def test_mann_whitney_only_decides_when_alpha_is_reachable(self):
        self.assertAlmostEqual(mann_whitney_greater([10.1, 10.3, 9.9], [30.2, 30.5, 29.8]), 0.0404277992, places=9)
        self.assertFalse(mann_whitney_decides(3, 3))  # best p 0.040
        self.assertFalse(mann_whitney_decides(4, 4))  # best p 0.015
        self.assertTrue(mann_whitney_decides(4, 5))  # best p 0.00998
        self.assertTrue(mann_whitney_decides(5, 5))
        self.assertFalse(mann_whitney_decides(2, 50))

    def test_ranks_share_ties(self):
        self.assertEqual(ranks([3, 1, 2, 2, 5]), [4.0, 1.0, 2.5, 2.5, 5.0])

    def test_relative_noise(self):
        self.assertAlmostEqual(relative_noise([10, 11, 12]), 1 / 11)
        self.assertEqual(relative_noise([10]), 0.0)

    def test_pooled_noise(self):
        self.assertAlmostEqual(pooled_noise([[10, 11, 12], [20, 20, 20], [5]]), (1 / 11) / 2**0.5)
        self.assertEqual(pooled_noise([[5.0], []]), 0.0)

    def test_ratio_spread(self):
        self.assertEqual(ratio_spread([1, 1, 1, 3, 3, 3]), 0.0)  # half the suite moved: no noise
        self.assertEqual(ratio_spread([3.0, 3.0, 3.0, 3.0]), 0.0)  # uniform shift: no noise
        # the shortest half (4 of 7) of [0.8, 0.95, 1.0, 1.0, 1.05, 1.2, 3] is 0.95 .. 1.05, centre 1.0
        self.assertAlmostEqual(ratio_spread([1.2, 1.0, 0.8, 1.05, 0.95, 1.0, 3]), 0.1 / 1.349)
        self.assertEqual(ratio_spread([1.0, 2.0]), 0.0)  # too few tests to tell


if __name__ == "__main__":
    unittest.main()
