"""Small statistics for reports: mean with a Student-t 95% confidence interval, without scipy."""

from __future__ import annotations

import math
import statistics

# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30; beyond, the normal 1.96 is close enough.
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high) of a 95% t interval; one value gives a zero-width interval, none gives NaNs."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return math.nan, math.nan, math.nan
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, m, m
    half = t975(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return m, m - half, m + half
