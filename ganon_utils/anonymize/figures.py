"""Figures and tables of the anonymisation stage: the Fig.-3-like grid and status counts per method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ganon_utils.image_io import load_image
from ganon_utils.report_files import wrap_label
from ganon_utils.stages import ANONYMIZED_STATUSES, PathLike

METHOD_TITLES = {
    "ganonymization": "GANonymization",
    "pixel8": "Pixelation 8x8",
    "pixel16": "Pixelation 16x16",
    "blur9": "Blur 9x9 kernel",
    "blur17": "Blur 17x17 kernel",
    "deepprivacy2": "DeepPrivacy2",
    "ciagan": "CIAGAN",
}
"""Column titles in the paper's wording (other methods are shown by name)."""


def status_counts(manifests: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per method, one column per status (face counts), plus ``total``."""
    counts = (
        pd.DataFrame({method: manifest["status"].value_counts() for method, manifest in manifests.items()})
        .T.fillna(0)
        .astype(int)
    )
    leading = ["ok", "average_face"]
    counts = counts[[s for s in leading if s in counts.columns] + sorted(set(counts.columns) - set(leading))]
    counts["total"] = counts.sum(axis=1)
    counts.columns.name = None
    return counts.rename_axis("method").reset_index()


def example_face_ids(manifests: Mapping[str, pd.DataFrame], n: int, *, per_image: int = 1) -> list[str]:
    """Up to ``n`` face ids anonymised by every method, at most ``per_image`` from each photo."""
    frames = list(manifests.values())
    if not frames:
        return []
    done = set.intersection(*(set(m.loc[m["status"].isin(ANONYMIZED_STATUSES), "face_id"]) for m in frames))
    first = frames[0]
    chosen = first[first["face_id"].isin(done)].groupby("image_id", sort=False).head(per_image)
    return chosen["face_id"].head(n).tolist()


def method_grid_images(
    face_ids: Sequence[str],
    preprocess_dir: PathLike,
    faces: pd.DataFrame,
    output_dir: PathLike,
    manifests: Mapping[str, pd.DataFrame],
) -> list[tuple[str, list[np.ndarray]]]:
    """For each face: its id and [original stage-01 face, then the face of each method in order]."""
    original_path = faces.set_index("face_id")["face_path"]
    rows = []
    for face_id in face_ids:
        images = [load_image(Path(preprocess_dir) / original_path[face_id]).rgb]
        for method, manifest in manifests.items():
            relative = manifest.set_index("face_id").loc[face_id, "face_path"]
            images.append(load_image(Path(output_dir) / method / relative).rgb)
        rows.append((face_id, images))
    return rows


def plot_method_grid(
    rows: Sequence[tuple[str, Sequence[np.ndarray]]],
    methods: Sequence[str],
    captions: Sequence[Sequence[str]] | None = None,
) -> Figure:
    """Rows: faces; columns: the original, then each method (cf. the paper's Fig. 3).

    ``captions`` (one list per row, one text per column) are written under the images, e.g. the
    identity distance of each anonymised face to its original.
    """
    titles = ["Original"] + [METHOD_TITLES.get(m, m) for m in methods]
    figure = Figure(figsize=(1.9 * len(titles), 1.9 * max(1, len(rows)) + 0.3), layout="constrained")
    axes = figure.subplots(max(1, len(rows)), len(titles), squeeze=False)
    for index, (row_axes, (face_id, images)) in enumerate(zip(axes, rows)):
        for ax, image in zip(row_axes, images):
            ax.imshow(image)
        row_axes[0].set_ylabel(wrap_label(face_id), fontsize=6)
        for ax, caption in zip(row_axes, captions[index] if captions is not None else []):
            ax.set_xlabel(caption, fontsize=7)
    for ax, title in zip(axes[0], titles):
        ax.set_title(title, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return figure
