"""Expression preservation, inference scenario (paper section 4.2, Tables 2-3, Fig. 7).

A classifier trained on original faces predicts emotion probabilities for every original face and for each
anonymised version of it (stage 03, same face ids). For every face, method and emotion the absolute
difference ``|p_orig - p_anon|`` says how much of the expression the method changed. Table 2 is its mean per
emotion and method; Table 3 compares GANonymization's differences with each other method's per emotion
(Wilcoxon signed-rank on the faces both compared methods anonymised, Bonferroni; the readings of its statistics
are :class:`~ganon_utils.evaluation.statistics.Table3Options`).
"""

from __future__ import annotations

import pandas as pd

from ganon_utils.evaluation.anonymity import ORIGINAL
from ganon_utils.evaluation.probabilities import PROBABILITY_PREFIX, class_probabilities, probability_columns
from ganon_utils.evaluation.statistics import Table3Options, bonferroni, bonferroni_m, significance_stars, wilcoxon_signed_rank
from ganon_utils.stages import STATUS_OK

__all__ = [
    "class_probabilities",
    "compare_methods",
    "compare_methods_vs_paper",
    "mean_differences",
    "mean_differences_vs_paper",
    "paper_emotion",
    "probability_differences",
]

REFERENCE_METHOD = "ganonymization"


def _paper_rows(rows: dict[str, tuple[float, float, float]]) -> dict[str, dict[str, float]]:
    """{method: {emotion: value}} from the paper's (Ours, DP2, CIAGAN) columns, one row per emotion."""
    methods = ("ganonymization", "deepprivacy2", "ciagan")
    return {m: {emotion: values[i] for emotion, values in rows.items()} for i, m in enumerate(methods)}


PAPER_TABLE2: dict[str, dict[str, dict[str, float]]] = {
    "affectnet": _paper_rows({
        "neutral": (0.09, 0.17, 0.10), "anger": (0.14, 0.19, 0.15), "contempt": (0.09, 0.18, 0.10),
        "disgust": (0.10, 0.19, 0.12), "fear": (0.15, 0.12, 0.11), "happy": (0.13, 0.11, 0.10),
        "sadness": (0.10, 0.16, 0.09), "surprise": (0.10, 0.20, 0.10),
    }),
    "ckplus": _paper_rows({
        "anger": (0.14, 0.30, 0.18), "contempt": (0.09, 0.25, 0.04), "disgust": (0.21, 0.30, 0.23),
        "fear": (0.06, 0.08, 0.06), "happy": (0.07, 0.31, 0.19), "sadness": (0.09, 0.14, 0.14),
        "surprise": (0.08, 0.26, 0.05),
    }),
    "faces": _paper_rows({
        "neutral": (0.11, 0.31, 0.12), "anger": (0.11, 0.36, 0.14), "disgust": (0.08, 0.18, 0.15),
        "fear": (0.02, 0.16, 0.07), "happy": (0.04, 0.17, 0.02), "sadness": (0.13, 0.31, 0.15),
    }),
}  # fmt: skip
"""The paper's Table 2 (mean |p_orig - p_anon|, two decimals): dataset -> method -> emotion."""

PAPER_TABLE3: dict[str, dict[str, dict[str, tuple[str, float, float]]]] = {
    "affectnet": {
        "deepprivacy2": {
            "neutral": ("< 0.001***", -26.149391, -0.499194), "anger": ("< 0.001***", -10.844502, -0.207023),
            "contempt": ("< 0.001***", -26.046682, -0.497233), "disgust": ("< 0.001***", -25.431412, -0.485488),
            "fear": ("< 0.001***", -15.905089, -0.303630), "happy": ("< 0.001***", -12.989478, -0.247970),
            "sadness": ("< 0.001***", -4.724173, -0.090185), "surprise": ("< 0.001***", -25.921903, -0.494851),
        },
        "ciagan": {
            "neutral": ("0.119", -26.183915, -0.492635), "anger": ("1.000", -10.331517, -0.194381),
            "contempt": ("0.013*", -26.187686, -0.492706), "disgust": ("< 0.001***", -25.441451, -0.478666),
            "fear": ("< 0.001***", -15.850979, -0.298227), "happy": ("< 0.001***", -12.821720, -0.241233),
            "sadness": ("< 0.001***", -4.195525, -0.078936), "surprise": ("0.034*", -26.142871, -0.491863),
        },
    },
    "ckplus": {
        "deepprivacy2": {
            "anger": ("< 0.001***", -3.941178, -0.477938), "contempt": ("< 0.001***", -4.326130, -0.524620),
            "disgust": ("< 0.001***", -3.635660, -0.440889), "fear": ("0.002**", -3.067397, -0.371977),
            "happy": ("< 0.001***", -3.415688, -0.414213), "sadness": ("0.146", -1.454264, -0.176355),
            "surprise": ("0.051", -1.949203, -0.236376),
        },
        "ciagan": {
            "anger": ("< 0.001***", -3.415688, -0.414213), "contempt": ("< 0.001***", -6.495306, -0.787672),
            "disgust": ("0.158", -1.411492, -0.171169), "fear": ("0.001**", -3.201825, -0.388278),
            "happy": ("< 0.001***", -3.440129, -0.417177), "sadness": ("< 0.001***", -4.741634, -0.575008),
            "surprise": ("< 0.001***", -4.069495, -0.493499),
        },
    },
    "faces": {
        "deepprivacy2": {
            "neutral": ("< 0.001***", -6.869167, -0.469567), "happy": ("0.965", -0.043556, -0.002977),
            "sadness": ("< 0.001***", -4.305428, -0.294313), "fear": ("0.287", -1.064641, -0.072777),
            "disgust": ("0.014*", -2.459535, -0.168130), "anger": ("< 0.001***", -6.771028, -0.462858),
        },
        "ciagan": {
            "neutral": ("< 0.001***", -4.080480, -0.278936), "happy": ("0.102", -1.633626, -0.111672),
            "sadness": ("0.018*", -2.366910, -0.161799), "fear": ("< 0.001***", -8.291628, -0.566804),
            "disgust": ("< 0.001***", -8.192387, -0.560020), "anger": ("0.052", -1.945685, -0.133004),
        },
    },
}  # fmt: skip
"""The paper's Table 3, GANonymization vs DeepPrivacy2 / CIAGAN: dataset -> method -> emotion -> (p with stars
as printed, Z, r). Every row satisfies r = Z / sqrt(N) with the printed N except AffectNet's CIAGAN rows, which
imply N = 2825 (the table prints 2744 for both comparisons); the values are kept as printed."""

PAPER_TABLE3_N = {"affectnet": 2744, "ckplus": 68, "faces": 214}
"""The N column of the paper's Table 3 per dataset."""

EMOTION_SYNONYMS = {"sad": "sadness", "angry": "anger", "happiness": "happy", "surprised": "surprise", "neutrality": "neutral"}
"""Class names of the adapters and of FER2013 that the paper spells differently."""


def paper_emotion(name: str) -> str:
    """The paper's spelling of an emotion class name (``sad`` -> ``sadness``, ``angry`` -> ``anger``)."""
    name = name.strip().lower()
    return EMOTION_SYNONYMS.get(name, name)


def mean_differences_vs_paper(table2: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Long table ``emotion, method, ours, paper`` for the cells of Table 2 the paper reports for ``dataset``.

    ``table2`` is :func:`mean_differences` (emotions x method ids). Empty when the paper has no values for the
    dataset (matched by name, ignoring case) or for any of its methods.
    """
    paper = PAPER_TABLE2.get(dataset.lower(), {})
    rows = [{"emotion": emotion, "method": method, "ours": float(table2.loc[emotion, method]),
             "paper": paper[method][paper_emotion(emotion)]}
            for method in table2.columns if method in paper
            for emotion in table2.index if paper_emotion(emotion) in paper[method]]  # fmt: skip
    return pd.DataFrame(rows, columns=["emotion", "method", "ours", "paper"])


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


def compare_methods(
    differences: pd.DataFrame, reference: str = REFERENCE_METHOD, options: Table3Options = Table3Options()
) -> pd.DataFrame:
    """Table 3: per emotion, ``reference`` vs each other method on the faces both anonymised.

    Columns: emotion, method, mean differences of both, Wilcoxon W, Z, p (uncorrected), N (``options.effect_size_n``),
    pairs, nonzero_pairs, r, median of (reference - method), Shapiro-Wilk W and p (``options.normality_test_on``),
    the Bonferroni p with its ``bonferroni_m`` (``options.bonferroni_family``) and the stars of ``options.stars_from``.
    """
    if reference not in set(differences["method"]):
        raise ValueError(f"reference method {reference!r} has no differences; methods: {sorted(set(differences['method']))}")
    wide = differences.pivot_table(index=["face_id", "emotion"], columns="method", values="difference", sort=False)
    rows = []
    for method in [m for m in differences["method"].drop_duplicates() if m != reference]:
        for emotion, group in wide[[reference, method]].dropna().groupby(level="emotion", sort=False):
            test = wilcoxon_signed_rank(
                group[reference].to_numpy(),
                group[method].to_numpy(),
                normality_test_on=options.normality_test_on,
                effect_size_n=options.effect_size_n,
            )
            rows.append({"emotion": emotion, "method": method, f"mean_{reference}": group[reference].mean(),
                         "mean_method": group[method].mean(), **test})  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return with_corrections(table, options)


def with_corrections(table: pd.DataFrame, options: Table3Options = Table3Options()) -> pd.DataFrame:
    """``table`` (rows of tests with ``method`` and ``p``) with ``p_bonferroni`` and ``bonferroni_m`` over the
    family of ``options.bonferroni_family``, and ``significance``: the stars of ``options.stars_from``."""
    table = table.copy()
    families = [table.index] if options.bonferroni_family == "dataset" else table.groupby("method", sort=False).groups.values()
    for rows in families:
        p = table.loc[rows, "p"].to_numpy()
        table.loc[rows, "p_bonferroni"] = bonferroni(p)
        table.loc[rows, "bonferroni_m"] = bonferroni_m(p)
    table["bonferroni_m"] = table["bonferroni_m"].astype(int)
    starred = table["p_bonferroni"] if options.stars_from == "bonferroni" else table["p"]
    table["significance"] = [significance_stars(p) for p in starred]
    return table


def compare_methods_vs_paper(table3: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows of :func:`compare_methods` (with GANonymization as reference) beside the paper's Table 3 row.

    Columns: emotion, method, Z, paper_Z, r, paper_r, N, paper_N, p (ours, uncorrected: the authors' table printed
    the uncorrected p), p_bonferroni, bonferroni_m, significance (ours, from the chosen p) and paper_p (as printed,
    with its stars). Empty when the paper has no row for the dataset, methods or emotions.
    """
    columns = ["emotion", "method", "Z", "paper_Z", "r", "paper_r", "N", "paper_N", "p", "p_bonferroni", "bonferroni_m",
               "significance", "paper_p"]  # fmt: skip
    paper = PAPER_TABLE3.get(dataset.lower(), {})
    if table3.empty or f"mean_{REFERENCE_METHOD}" not in table3.columns:
        return pd.DataFrame(columns=columns)
    rows = []
    for row in table3.itertuples(index=False):
        printed = paper.get(row.method, {}).get(paper_emotion(row.emotion))
        if printed is not None:
            p_text, z, r = printed
            rows.append({"emotion": row.emotion, "method": row.method, "Z": row.Z, "paper_Z": z, "r": row.r, "paper_r": r,
                         "N": row.N, "paper_N": PAPER_TABLE3_N[dataset.lower()], "p": row.p, "p_bonferroni": row.p_bonferroni,
                         "bonferroni_m": row.bonferroni_m, "significance": row.significance, "paper_p": p_text})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def comparison_summary(means: pd.DataFrame, table3: pd.DataFrame, reference: str = REFERENCE_METHOD) -> pd.DataFrame:
    """Tables 2 and 3 in one row per method: the mean ``|p_orig - p_anon|`` over emotions (``means``: Table 2 of
    :func:`mean_differences`) and, against ``reference``, in how many emotions the reference changed the
    probabilities significantly less / more (starred in ``table3``: the p of its ``stars_from``, below 0.05)."""
    rows = []
    for method in means.columns:
        row: dict[str, object] = {"method": method, "mean_difference": float(means.loc["mean", method])}
        if method != reference and not table3.empty:
            tests = table3[table3["method"] == method]
            significant = tests["significance"] != ""
            row.update(emotions=len(tests), reference_lower=int((significant & (tests["median_difference"] < 0)).sum()),
                       reference_higher=int((significant & (tests["median_difference"] > 0)).sum()))  # fmt: skip
        rows.append(row)
    columns = ["method", "mean_difference", "emotions", "reference_lower", "reference_higher"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    return table.astype({c: "Int64" for c in columns[2:]})  # counts, empty on the reference's own row
