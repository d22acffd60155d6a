"""Paired comparisons of the paper's Table 3: Shapiro-Wilk, Wilcoxon signed-rank, effect size, Bonferroni.

For every emotion, the per-image distances of GANonymization are compared with those of each other method on
the same images. The paper first rejects normality (Shapiro-Wilk), then runs the Wilcoxon signed-rank test,
reports ``Z`` (normal approximation), the effect size ``r = Z / sqrt(N)`` and ``N``, and corrects the p-values
with Bonferroni. (Check from the paper: Z = -26.149391 with N = 2744 gives r = -0.499194.)

The text and the authors' code (``lib/analysis.py`` of hcmlab/GANonymization, read at the parent of ``eb7d38f``)
leave four choices open; :class:`Table3Options` names them, defaults first (this package's reading), the
authors' second:

- ``normality_test_on``: Shapiro-Wilk on the paired ``differences``, or on the two methods' distances
  ``concatenated`` (the authors').
- ``effect_size_n``: ``N`` = the ``nonzero`` pairs that enter the test (Wilcoxon's procedure), or ``all``
  pairs (the authors' ``n = len(gan)``). ``Z`` and ``p`` drop zero differences either way (SciPy's
  ``zero_method="wilcox"``, ``method="approx"``, as the authors called it).
- ``bonferroni_family``: correct over all tests of a ``dataset`` (methods x emotions), or over the emotions of
  one method ``comparison`` (what the authors' code computed and logged).
- ``stars_from``: the stars of the ``bonferroni`` p, or of the ``uncorrected`` p (the authors' table prints
  the uncorrected p; several CK+ and FACES p-values equal ``2 * Phi(-|Z|)``).

``Z`` follows SciPy's convention for the two-sided test: it is computed from the smaller of the two rank
sums and is therefore never positive; which method has the smaller distances is given separately
(``median_difference``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

SIGNIFICANCE_STARS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
"""Thresholds of the paper's stars: * p < 0.05, ** p < 0.01, *** p < 0.001."""


def effect_size_r(z: float, n: int) -> float:
    """``r = Z / sqrt(N)`` (NaN without pairs)."""
    return z / math.sqrt(n) if n > 0 else math.nan


def significance_stars(p: float) -> str:
    """``"***"``, ``"**"``, ``"*"`` or ``""`` for a p-value (NaN: ``""``)."""
    for threshold, stars in SIGNIFICANCE_STARS:
        if p < threshold:
            return stars
    return ""


def bonferroni_m(p_values: np.ndarray | list[float]) -> int:
    """The number of tests a Bonferroni correction multiplies by: the non-NaN p-values."""
    return int(np.isfinite(np.asarray(p_values, dtype=float)).sum())


def bonferroni(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Bonferroni-corrected p-values: each times the number of (non-NaN) tests, at most 1."""
    return np.minimum(np.asarray(p_values, dtype=float) * bonferroni_m(p_values), 1.0)


NORMALITY_TEST_ON = ("differences", "concatenated")
EFFECT_SIZE_N = ("nonzero", "all")
BONFERRONI_FAMILY = ("dataset", "comparison")
STARS_FROM = ("bonferroni", "uncorrected")


@dataclass(frozen=True)
class Table3Options:
    """The four readings of Table 3's statistics (module docstring); the defaults are this package's, the
    authors' code used ``concatenated``, ``all``, ``comparison``, ``uncorrected``."""

    normality_test_on: str = "differences"
    effect_size_n: str = "nonzero"
    bonferroni_family: str = "dataset"
    stars_from: str = "bonferroni"

    def __post_init__(self) -> None:
        for name, allowed in (("normality_test_on", NORMALITY_TEST_ON), ("effect_size_n", EFFECT_SIZE_N),
                              ("bonferroni_family", BONFERRONI_FAMILY), ("stars_from", STARS_FROM)):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")

    def describe(self) -> str:
        """One sentence for a table caption: how each column was computed."""
        normality = "the paired differences" if self.normality_test_on == "differences" else "both methods' values concatenated"
        n = "pairs with a non-zero difference" if self.effect_size_n == "nonzero" else "all pairs"
        family = (
            "all tests of the dataset (methods x emotions)"
            if self.bonferroni_family == "dataset"
            else "the emotions of one method comparison"
        )
        stars = "the Bonferroni p" if self.stars_from == "bonferroni" else "the uncorrected p"
        return (f"Shapiro-Wilk on {normality}; Wilcoxon signed-rank (normal approximation, zero differences dropped); "
                f"N = {n}, r = Z / sqrt(N); `p` uncorrected, `p_bonferroni` = min(1, m p) with m (`bonferroni_m`) the "
                f"number of tests of {family}; stars (* p < 0.05, ** p < 0.01, *** p < 0.001) from {stars}.")  # fmt: skip


def shapiro_wilk(values: np.ndarray) -> tuple[float, float]:
    """(W, p) of the Shapiro-Wilk normality test; NaNs with fewer than 3 values or no spread."""
    values = np.asarray(values, dtype=float)
    if len(values) < 3 or np.ptp(values) == 0:
        return math.nan, math.nan
    result = stats.shapiro(values)
    return float(result.statistic), float(result.pvalue)


def normality_sample(x: np.ndarray, y: np.ndarray, on: str = "differences") -> np.ndarray:
    """What Shapiro-Wilk tests: the paired differences ``x - y``, or ``x`` and ``y`` concatenated (the authors')."""
    if on not in NORMALITY_TEST_ON:
        raise ValueError(f"normality_test_on must be one of {list(NORMALITY_TEST_ON)}, got {on!r}")
    return x - y if on == "differences" else np.concatenate([x, y])


def wilcoxon_signed_rank(
    x: np.ndarray, y: np.ndarray, *, normality_test_on: str = "differences", effect_size_n: str = "nonzero"
) -> dict[str, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples with its normal approximation.

    Returns ``W`` (the smaller rank sum), ``Z``, ``p`` (uncorrected), ``N`` (the ``effect_size_n`` reading),
    ``pairs`` (all finite pairs), ``nonzero_pairs``, ``r = Z / sqrt(N)``, the median of ``x - y`` and
    Shapiro-Wilk's ``W`` and ``p`` on :func:`normality_sample`.
    """
    if effect_size_n not in EFFECT_SIZE_N:
        raise ValueError(f"effect_size_n must be one of {list(EFFECT_SIZE_N)}, got {effect_size_n!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples need the same length, got {len(x)} and {len(y)}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    differences = x - y
    nonzero = int(np.count_nonzero(differences))
    n = nonzero if effect_size_n == "nonzero" else len(differences)
    shapiro_w, shapiro_p = shapiro_wilk(normality_sample(x, y, normality_test_on))
    row = {"W": math.nan, "Z": math.nan, "p": math.nan, "N": n, "pairs": len(differences), "nonzero_pairs": nonzero,
           "r": math.nan, "median_difference": float(np.median(differences)) if len(differences) else math.nan,
           "shapiro_W": shapiro_w, "shapiro_p": shapiro_p}  # fmt: skip
    if nonzero == 0:
        return row
    result = stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided", method="approx")
    z = float(result.zstatistic)
    row.update(W=float(result.statistic), Z=z, p=float(result.pvalue), r=effect_size_r(z, n))
    return row
