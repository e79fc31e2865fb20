"""Statistics of measured samples: summaries, verdicts, Mann-Whitney and noise; no I/O.

Everything here takes plain numbers and returns numbers (or a verdict
sentence); the report, the baseline comparison, the gate and the benchmark
share it. Times are whatever unit the caller passes.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import operator
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence

ALPHA = 0.01  # default one-sided significance level of the Mann-Whitney test
MIN_TESTS_FOR_SPREAD = 3  # fewer ratios than this: the suite-wide spread is unknown (0)
_IQR_PER_SIGMA = 1.349  # width of the central half of a normal distribution, in sigmas

#: Verdicts on an overall success rate in %: the first whose floor the rate reaches.
RECOMMENDATIONS: tuple[tuple[float, str], ...] = (
    (95.0, "excellent: performance targets are met"),
    (80.0, "good: most targets are met; look at the slowest tests"),
    (60.0, "moderate: several targets are missed; profile fixtures and queries"),
)
POOR = "poor: most targets are missed; review fixture setup, queries and cleanup"


# --- summaries -----------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    """Statistics of one metric over its samples."""

    count: int
    mean: float
    median: float
    p95: float
    min: float
    max: float
    stddev: float


def compute_stats(values: Iterable[float]) -> Stats | None:
    """Statistics of ``values`` (p95 interpolated inclusively); None when there are none. The same numbers as the
    ``statistics`` module's, from one sort."""
    return summarize(sorted(float(v) for v in values))


def summarize(ordered: list[float]) -> Stats | None:
    """``compute_stats`` of values already sorted, as floats: the median and p95 read off them as ``statistics``
    computes them on the values it sorts (``median``; ``quantiles(n=20, method="inclusive")[-1]``)."""
    count = len(ordered)
    if not count:
        return None
    half = count // 2
    j, delta = divmod(19 * (count - 1), 20)  # the 19th of 20 quantiles, interpolated inclusively
    return Stats(
        count=count,
        mean=statistics.fmean(ordered),
        median=ordered[half] if count % 2 else (ordered[half - 1] + ordered[half]) / 2,
        p95=(ordered[j] * (20 - delta) + ordered[j + 1] * delta) / 20 if count > 1 else ordered[0],
        min=ordered[0],
        max=ordered[-1],
        stddev=_stdev(ordered, _smallest_of_sorted(ordered)) if count > 1 else 0.0,
    )


def _smallest_of_sorted(ordered: list[float]) -> float:
    """The smallest magnitude among sorted values other than zero (0.0 when all are zero): next to where zero goes."""
    below, above = bisect.bisect_left(ordered, 0.0), bisect.bisect_right(ordered, 0.0)
    nearest = [-ordered[below - 1]] if below else []
    if above < len(ordered):
        nearest.append(ordered[above])
    return min(nearest, default=0.0)


def stdev(values: Sequence[float]) -> float:
    """``statistics.stdev`` of two or more finite floats, to the last bit, without its fractions: with every
    value a whole number of steps of 2**-scale, the sums are exact integers, and the result is the correctly
    rounded root of the exact sample variance, as ``statistics`` computes it."""
    return _stdev(values, min(map(abs, filter(None, values)), default=0.0))


def _stdev(values: Sequence[float], smallest: float) -> float:
    """``stdev`` of values whose smallest magnitude other than zero is ``smallest``."""
    if not smallest:
        return 0.0
    scaled, scale = _as_integers(values, 53 - math.frexp(smallest)[1])
    count, total = len(scaled), sum(scaled)
    numerator = count * sum(map(operator.mul, scaled, scaled)) - total * total
    denominator = count * (count - 1)
    if scale >= 0:
        denominator <<= 2 * scale
    else:
        numerator <<= -2 * scale
    divisor = math.gcd(numerator, denominator)
    return _sqrt_of_fraction(numerator // divisor, denominator // divisor)


def _as_integers(values: Sequence[float], scale: int) -> tuple[list[int], int]:
    """The values times 2**scale, whole numbers when the smallest's last bit is worth 2**-scale; when that
    overflows a float, as many steps of the smallest step among them (and its scale)."""
    try:
        factor = 2.0**scale  # multiplying by a power of two is exact
        return list(map(int, map(operator.mul, values, itertools.repeat(factor)))), scale  # value * factor, in C
    except OverflowError:
        ratios = [value.as_integer_ratio() for value in values]
        step = max(denominator for _, denominator in ratios)  # a power of two
        return [numerator * (step // denominator) for numerator, denominator in ratios], step.bit_length() - 1


def _sqrt_of_fraction(n: int, m: int) -> float:
    """The square root of n/m as a float, correctly rounded (the method of CPython's ``statistics``)."""
    q = (n.bit_length() - m.bit_length() - 109) // 2  # 109 bits: twice a float's 53, plus 3
    if q >= 0:
        return float(_isqrt_round_to_odd(n, m << 2 * q) << q)
    return _isqrt_round_to_odd(n << -2 * q, m) / (1 << -q)


def _isqrt_round_to_odd(n: int, m: int) -> int:
    root = math.isqrt(n // m)
    return root | (root * root * m != n)


def statistic(values: Iterable[float], which: str) -> float | None:
    """One field of ``compute_stats`` (``"mean"``, ``"median"``...); None without values."""
    stats = compute_stats(values)
    return None if stats is None else getattr(stats, which)


def success_rate(samples: Sequence[float], target: float) -> float:
    """% of ``samples`` within ``target`` (the target itself counts as within)."""
    return 100.0 * sum(value <= target for value in samples) / len(samples)


def classify(value: float, threshold: float) -> str | None:
    """Alert severity of ``value`` against ``threshold``: None, "warning" (<= 1.5x) or "critical"."""
    if value <= threshold:
        return None
    return "warning" if value <= 1.5 * threshold else "critical"


def recommendation(rate: float) -> str:
    """A one-sentence verdict on an overall success rate in % (see RECOMMENDATIONS)."""
    for floor, text in RECOMMENDATIONS:
        if rate >= floor:
            return text
    return POOR


# --- significance --------------------------------------------------------------------


def ranks(values: Sequence[float]) -> list[float]:
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


# --- noise ---------------------------------------------------------------------------


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
