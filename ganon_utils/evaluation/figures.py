"""Figures of the evaluations: identity-distance distributions and captioned example grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ganon_utils.anonymize.figures import METHOD_TITLES
from ganon_utils.report_files import set_epoch_axis


def method_title(method: str) -> str:
    """The paper's name of a method ("Original" for the original faces)."""
    return "Original" if method == "original" else METHOD_TITLES.get(method, method)


def plot_identity_distances(distances: pd.DataFrame, threshold: float, title: str = "") -> Figure:
    """Box plot with the faces as points: cosine distance to the original per method, threshold as a line."""
    data = distances.dropna(subset=["distance"]).assign(Method=lambda d: d["method"].map(method_title))
    order = [method_title(m) for m in distances["method"].drop_duplicates()]
    figure = Figure(figsize=(1.2 + 1.1 * len(order), 4.0), layout="constrained")
    ax = figure.subplots()
    sns.boxplot(data=data, x="Method", y="distance", order=order, ax=ax, color="#d9e6f2", fliersize=0, width=0.6)
    sns.stripplot(data=data, x="Method", y="distance", order=order, ax=ax, color="#1f4e79", size=2.5, alpha=0.6)
    ax.axhline(threshold, color="#c0392b", linestyle="--", linewidth=1)
    ax.text(len(order) - 0.5, threshold, f" re-identification threshold {threshold:g}", color="#c0392b",
            fontsize=8, ha="right", va="bottom")  # fmt: skip
    ax.set_ylabel("cosine distance to the original")
    ax.set_xlabel("")
    ax.set_ylim(bottom=min(0.0, float(data["distance"].min()) if len(data) else 0.0))
    ax.tick_params(axis="x", labelrotation=20)
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def distance_captions(distances: pd.DataFrame, face_ids: Sequence[str], methods: Sequence[str]) -> list[list[str]]:
    """For each face: ["" for the original, then "d = 0.71" per method] (empty where not evaluated)."""
    table = distances.set_index(["face_id", "method"])["distance"]
    captions = []
    for face_id in face_ids:
        row = [""]
        for method in methods:
            value = table.get((face_id, method))
            row.append("" if value is None or pd.isna(value) else f"d = {value:.2f}")
        captions.append(row)
    return captions


def plot_expression_differences(differences: pd.DataFrame, title: str = "") -> Figure:
    """Mean ``|p_orig - p_anon|`` per emotion and method with 95% confidence intervals (cf. the paper's Fig. 7)."""
    data = differences.assign(Method=lambda d: d["method"].map(method_title))
    emotions = list(differences["emotion"].drop_duplicates())
    figure = Figure(figsize=(2.0 + 1.0 * len(emotions), 4.0), layout="constrained")
    ax = figure.subplots()
    sns.barplot(data=data, x="emotion", y="difference", hue="Method", order=emotions, errorbar=("ci", 95),
                ax=ax, palette="colorblind", err_kws={"linewidth": 1})  # fmt: skip
    ax.set_xlabel("")
    ax.set_ylabel("mean |p_orig - p_anon|")
    ax.legend(title="", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def plot_training_curves(logs: Mapping[str, pd.DataFrame], title: str = "") -> Figure:
    """Validation loss per epoch of each version's classifier (from the runs' ``log.csv``)."""
    figure = Figure(figsize=(6.0, 3.5), layout="constrained")
    ax = figure.subplots()
    for version, log in logs.items():
        ax.plot(log["epoch"], log["val_loss"], marker="o", markersize=3, label=method_title(version))
    set_epoch_axis(ax)
    ax.set_ylabel("validation loss")
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def plot_confusion_matrices(matrices: Mapping[str, pd.DataFrame], title: str = "") -> Figure:
    """Row-normalised confusion matrices side by side, one per classifier (cf. the paper's Fig. 10)."""
    n = max(1, len(matrices))
    first = next(iter(matrices.values()), pd.DataFrame())
    side = 1.2 + 0.45 * len(first)
    figure = Figure(figsize=(side * n, side + 0.4), layout="constrained")
    axes = figure.subplots(1, n, squeeze=False)[0]
    for ax, (name, matrix) in zip(axes, matrices.items()):
        sns.heatmap(matrix, ax=ax, vmin=0, vmax=1, cmap="Blues", annot=len(matrix) <= 10, fmt=".2f", cbar=False,
                    square=True, annot_kws={"fontsize": 7})  # fmt: skip
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true" if ax is axes[0] else "")
        ax.tick_params(labelsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_removal_rates(rates: pd.DataFrame, title: str = "") -> Figure:
    """Removal rate per attribute and method (cf. the paper's Figs. 8-9), attributes sorted by GANonymization's."""
    data = rates.dropna(subset=["removal_rate"]).assign(Method=lambda d: d["method"].map(method_title))
    reference = data[data["method"] == "ganonymization"]
    order = (reference if len(reference) else data).groupby("attribute")["removal_rate"].mean().sort_values(ascending=False).index
    figure = Figure(figsize=(max(5.0, 0.35 * len(order) * max(1, data["method"].nunique()) + 2.0), 4.0), layout="constrained")
    ax = figure.subplots()
    sns.barplot(data=data, x="attribute", y="removal_rate", hue="Method", order=list(order), ax=ax, palette="colorblind")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("")
    ax.set_ylabel("removal rate")
    ax.tick_params(axis="x", labelrotation=90 if len(order) > 6 else 0, labelsize=8)
    ax.legend(title="", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def plot_attribute_confusions(matrices: Mapping[str, pd.DataFrame], title: str = "") -> Figure:
    """Per classifier, one row per attribute with its row-normalised 2 x 2 confusion (cf. the paper's Fig. 11)."""
    n = max(1, len(matrices))
    rows = len(next(iter(matrices.values()), pd.DataFrame()))
    # a row per attribute at a readable height, plus room for the titles and the two-line column labels
    figure = Figure(figsize=(3.4 * n + 1.4, 1.5 + 0.28 * max(rows, 2)), layout="constrained")
    axes = figure.subplots(1, n, squeeze=False)[0]
    for ax, (name, matrix) in zip(axes, matrices.items()):
        sns.heatmap(matrix, ax=ax, vmin=0, vmax=1, cmap="Blues", annot=rows <= 12, fmt=".2f", cbar=False,
                    annot_kws={"fontsize": 7})  # fmt: skip
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("true -> predicted", fontsize=8)
        ax.set_ylabel("" if ax is not axes[0] else "attribute", fontsize=8)
        ax.set_xticks(ax.get_xticks(), [str(c).replace(" -> ", " ->\n") for c in matrix.columns], rotation=0, fontsize=7)
        ax.tick_params(axis="y", labelsize=7, labelrotation=0)
        if ax is not axes[0]:
            ax.set_yticklabels([])
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_reidentification_roc(rocs: Mapping[tuple[str, str], Any], modes: Mapping[str, str], title: str = "") -> Figure:
    """ROC curves of the re-identification attack's verification (same vs different person by cosine distance), one
    panel per gallery mode (``modes``: mode -> panel title), one curve per method with its AUC; the diagonal is chance.
    ``rocs``: (method, mode) -> an object with ``fpr``, ``tpr`` and ``auc``
    (:class:`ganon_utils.evaluation.reidentification.Roc`)."""
    shown = [mode for mode in modes if any(key[1] == mode for key in rocs)] or list(modes)[:1]
    figure = Figure(figsize=(4.2 * len(shown) + 0.6, 4.2), layout="constrained")
    axes = figure.subplots(1, len(shown), squeeze=False)[0]
    colours = sns.color_palette("colorblind", n_colors=max(1, len({key[0] for key in rocs})))
    methods = list(dict.fromkeys(key[0] for key in rocs))
    for ax, mode in zip(axes, shown):
        ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1, label="chance")
        for colour, method in zip(colours, methods):
            roc = rocs.get((method, mode))
            if roc is None or roc.auc != roc.auc:  # NaN: no pairs of one kind
                continue
            ax.plot(roc.fpr, roc.tpr, color=colour, linewidth=1.4, label=f"{method_title(method)} (AUC {roc.auc:.2f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false match rate (different person accepted)")
        ax.set_ylabel("true match rate (same person accepted)" if ax is axes[0] else "")
        ax.set_title(modes[mode], fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
