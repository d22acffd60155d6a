"""Paired comparisons of the paper's Table 3: Shapiro-Wilk, Wilcoxon signed-rank, effect size, Bonferroni.

For every emotion, the per-image distances of GANonymization are compared with those of each other method on
the same images. The paper first rejects normality (Shapiro-Wilk on the paired differences), then runs the
Wilcoxon signed-rank test, reports ``Z`` (normal approximation), the effect size ``r = Z / sqrt(N)`` and
``N``, and corrects the p-values of one dataset with Bonferroni. (Check from the paper: Z = -26.149391 with
N = 2744 gives r = -0.499194.)

``Z`` follows SciPy's convention for the two-sided test: it is computed from the smaller of the two rank
sums and is therefore never positive; which method has the smaller distances is given separately
(``median_difference``). ``N`` counts the pairs that enter the test: pairs with a zero difference are dropped,
as in Wilcoxon's original procedure.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

SIGNIFICANCE_STARS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
"""Thresholds of the paper's stars: * p < 0.05, ** p < 0.01, *** p < 0.001."""


def effect_size_r(z: float, n: int) -> float:
    """``r = Z / sqrt(N)`` (NaN without pairs)."""
    return z / math.sqrt(n) if n > 0 else math.nan


def significance_stars(p: float) -> str:
    """``"***"``, ``"**"``, ``"*"`` or ``""`` for a (corrected) p-value."""
    for threshold, stars in SIGNIFICANCE_STARS:
        if p < threshold:
            return stars
    return ""


def bonferroni(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Bonferroni-corrected p-values: each times the number of (non-NaN) tests, at most 1."""
    p = np.asarray(p_values, dtype=float)
    m = int(np.isfinite(p).sum())
    return np.minimum(p * m, 1.0)


def shapiro_wilk(values: np.ndarray) -> tuple[float, float]:
    """(W, p) of the Shapiro-Wilk normality test; NaNs with fewer than 3 values or no spread."""
    values = np.asarray(values, dtype=float)
    if len(values) < 3 or np.ptp(values) == 0:
        return math.nan, math.nan
    result = stats.shapiro(values)
    return float(result.statistic), float(result.pvalue)


def wilcoxon_signed_rank(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples with its normal approximation.

    Returns ``W`` (the smaller rank sum), ``Z``, ``p``, ``N`` (pairs with a non-zero difference), ``r``,
    the median of ``x - y`` and Shapiro-Wilk's ``W`` and ``p`` on the differences.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples need the same length, got {len(x)} and {len(y)}")
    keep = np.isfinite(x) & np.isfinite(y)
    differences = x[keep] - y[keep]
    n = int(np.count_nonzero(differences))
    shapiro_w, shapiro_p = shapiro_wilk(differences)
    row = {"W": math.nan, "Z": math.nan, "p": math.nan, "N": n, "r": math.nan,
           "median_difference": float(np.median(differences)) if len(differences) else math.nan,
           "shapiro_W": shapiro_w, "shapiro_p": shapiro_p}  # fmt: skip
    if n == 0:
        return row
    result = stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided", method="approx")
    z = float(result.zstatistic)
    row.update(W=float(result.statistic), Z=z, p=float(result.pvalue), r=effect_size_r(z, n))
    return row
