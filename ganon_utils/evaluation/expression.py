"""Expression preservation, inference scenario (paper section 4.2, Tables 2-3, Fig. 7).

A classifier trained on original faces predicts emotion probabilities for every original face and for each
anonymised version of it (stage 03, same face ids). For every face, method and emotion the absolute
difference ``|p_orig - p_anon|`` says how much of the expression the method changed. Table 2 is its mean per
emotion and method; Table 3 compares GANonymization's differences with each other method's per emotion
(Wilcoxon signed-rank on the faces all compared methods anonymised, Bonferroni within the dataset).
"""

from __future__ import annotations

import pandas as pd

from ganon_utils.evaluation.anonymity import ORIGINAL
from ganon_utils.evaluation.probabilities import (
    PROBABILITY_PREFIX,
    STATUS_OK,
    class_probabilities,
    probability_columns,
)
from ganon_utils.evaluation.statistics import bonferroni, significance_stars, wilcoxon_signed_rank

__all__ = ["class_probabilities", "compare_methods", "mean_differences", "probability_differences"]

REFERENCE_METHOD = "ganonymization"


def probability_differences(probabilities: pd.DataFrame) -> pd.DataFrame:
    """Long table: face_id, method, emotion, ``difference = |p_orig - p_anon|`` (faces with both versions only)."""
    columns = probability_columns(probabilities)
    classified = probabilities[probabilities["status"] == STATUS_OK]
    original = classified[classified["method"] == ORIGINAL].set_index("face_id")[columns]
    parts = []
    for method, group in classified[classified["method"] != ORIGINAL].groupby("method", sort=False):
        anonymized = group.set_index("face_id")[columns]
        common = original.index.intersection(anonymized.index, sort=False)
        difference = (original.loc[common] - anonymized.loc[common]).abs()
        difference.columns = [c[len(PROBABILITY_PREFIX) :] for c in columns]
        long = difference.reset_index().melt(id_vars="face_id", var_name="emotion", value_name="difference")
        parts.append(long.assign(method=method))
    if not parts:
        return pd.DataFrame(columns=["face_id", "method", "emotion", "difference"])
    return pd.concat(parts, ignore_index=True)[["face_id", "method", "emotion", "difference"]]


def mean_differences(differences: pd.DataFrame) -> pd.DataFrame:
    """Table 2: mean ``|p_orig - p_anon|`` per emotion (rows) and method (columns), plus the mean over emotions."""
    table = differences.pivot_table(index="emotion", columns="method", values="difference", aggfunc="mean", sort=False)
    table.loc["mean"] = table.mean(axis=0)
    return table


def compare_methods(differences: pd.DataFrame, reference: str = REFERENCE_METHOD) -> pd.DataFrame:
    """Table 3: per emotion, ``reference`` vs each other method on the faces both anonymised.

    Columns: emotion, method, mean differences of both, Wilcoxon W, Z, p, N, r, median of (reference -
    method), Shapiro-Wilk W and p of the differences, Bonferroni-corrected p over all rows and its stars.
    """
    if reference not in set(differences["method"]):
        raise ValueError(f"reference method {reference!r} has no differences; methods: {sorted(set(differences['method']))}")
    wide = differences.pivot_table(index=["face_id", "emotion"], columns="method", values="difference", sort=False)
    rows = []
    for method in [m for m in differences["method"].drop_duplicates() if m != reference]:
        for emotion, group in wide[[reference, method]].dropna().groupby(level="emotion", sort=False):
            test = wilcoxon_signed_rank(group[reference].to_numpy(), group[method].to_numpy())
            rows.append({"emotion": emotion, "method": method, f"mean_{reference}": group[reference].mean(),
                         "mean_method": group[method].mean(), **test})  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_bonferroni"] = bonferroni(table["p"].to_numpy())
    table["significance"] = [significance_stars(p) for p in table["p_bonferroni"]]
    return table
