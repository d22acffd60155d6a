"""Expression preservation, inference scenario (paper section 4.2, Tables 2-3, Fig. 7).

A classifier trained on original faces predicts emotion probabilities for every original face and for each
anonymised version of it (stage 03, same face ids). For every face, method and emotion the absolute
difference ``|p_orig - p_anon|`` says how much of the expression the method changed. Table 2 is its mean per
emotion and method; Table 3 compares GANonymization's differences with each other method's per emotion
(Wilcoxon signed-rank on the faces all compared methods anonymised, Bonferroni within the dataset).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganon_utils.anonymize.pipeline import ANONYMIZED_STATUSES
from ganon_utils.evaluation.anonymity import ORIGINAL, read_method_manifest
from ganon_utils.evaluation.classifiers import Box, ExpressionClassifier, landmark_box
from ganon_utils.evaluation.statistics import bonferroni, significance_stars, wilcoxon_signed_rank
from ganon_utils.image_io import ImageLoadError, load_image
from ganon_utils.preprocess.pipeline import read_stage_outputs
from ganon_utils.progress import tqdm

REFERENCE_METHOD = "ganonymization"
PROBABILITY_PREFIX = "p_"
STATUS_OK = "ok"
STATUS_NOT_ANONYMIZED = "not_anonymized"
STATUS_UNREADABLE = "unreadable"

PathLike = str | os.PathLike[str]


def face_boxes(preprocess_dir: Path, faces: pd.DataFrame, face_size: int) -> dict[str, Box | None]:
    """Landmark box of each original face (None without landmarks): the crop used for all its versions."""
    boxes: dict[str, Box | None] = {}
    for face in faces.itertuples(index=False):
        boxes[face.face_id] = None
        if face.landmarks_path:
            landmarks = np.load(preprocess_dir / face.landmarks_path, allow_pickle=False)
            boxes[face.face_id] = landmark_box(landmarks, face_size, face_size)
    return boxes


def _classify_files(
    files: dict[str, Path], boxes: dict[str, Box | None], classifier: ExpressionClassifier, batch_size: int, advance
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Probabilities per face id for image files, and the read errors."""
    probabilities: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    items = list(files.items())
    for start in range(0, len(items), batch_size):
        ids, images = [], []
        for face_id, path in items[start : start + batch_size]:
            try:
                images.append(load_image(path).rgb)
                ids.append(face_id)
            except ImageLoadError as error:
                errors[face_id] = str(error)
        for face_id, row in zip(ids, classifier.predict_proba(images, [boxes.get(i) for i in ids])):
            probabilities[face_id] = row
        advance(len(items[start : start + batch_size]))
    return probabilities, errors


def class_probabilities(
    preprocess_dir: PathLike,
    anonymized_dir: PathLike,
    methods: Sequence[str],
    classifier: ExpressionClassifier,
    *,
    splits: Sequence[str] | None = None,
    face_ids: Collection[str] | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per (face, version): ``original`` and each method, with ``p_<class>`` columns.

    ``splits`` / ``face_ids`` restrict the faces. Faces a method did not anonymise or whose file cannot be
    read keep their row with a status and no probabilities.
    """
    preprocess_dir, anonymized_dir = Path(preprocess_dir), Path(anonymized_dir)
    faces, preprocess_config = read_stage_outputs(preprocess_dir)
    faces = faces[(faces["face_path"] != "") & (faces["split"].isin(splits) if splits is not None else True)]
    if face_ids is not None:
        faces = faces[faces["face_id"].isin(set(face_ids))]
    if faces.empty:
        raise ValueError(f"{preprocess_dir} has no faces" + (f" in splits {list(splits)}" if splits is not None else "")
                         + (" with the given face ids" if face_ids is not None else ""))  # fmt: skip
    manifests = {method: read_method_manifest(anonymized_dir, method) for method in methods}
    boxes = face_boxes(preprocess_dir, faces, int(preprocess_config["image_size"]))
    wanted = set(faces["face_id"])
    versions: dict[str, tuple[dict[str, Path], dict[str, str]]] = {
        ORIGINAL: ({f: preprocess_dir / p for f, p in zip(faces["face_id"], faces["face_path"])}, {})
    }
    for method, manifest in manifests.items():
        manifest = manifest[manifest["face_id"].isin(wanted)]
        done = manifest["status"].isin(ANONYMIZED_STATUSES) & (manifest["face_path"] != "")
        files = {f: anonymized_dir / method / p for f, p in zip(manifest.loc[done, "face_id"], manifest.loc[done, "face_path"])}
        reasons = {f: f"{method}: {s}" + (f" ({m})" if m else "") for f, s, m in
                   zip(manifest["face_id"], manifest["status"], manifest["message"])}  # fmt: skip
        versions[method] = (files, reasons)

    columns = [PROBABILITY_PREFIX + c for c in classifier.classes]
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=sum(len(v[0]) for v in versions.values()), desc=f"class probabilities ({classifier.name})",
               unit="face", disable=not progress)  # fmt: skip
    try:
        for version, (files, reasons) in versions.items():
            probabilities, errors = _classify_files(files, boxes, classifier, batch_size, bar.update)
            for face in faces.itertuples(index=False):
                row: dict[str, Any] = {"face_id": face.face_id, "image_id": face.image_id, "split": face.split,
                                       "method": version, "status": STATUS_OK, "message": ""}  # fmt: skip
                if face.face_id in probabilities:
                    row.update(zip(columns, probabilities[face.face_id].tolist()))
                elif face.face_id in errors:
                    row.update(status=STATUS_UNREADABLE, message=errors[face.face_id])
                else:
                    row.update(status=STATUS_NOT_ANONYMIZED, message=reasons.get(face.face_id, f"{version}: no entry in its manifest"))
                rows.append(row)
    finally:
        bar.close()
    return pd.DataFrame(rows, columns=["face_id", "image_id", "split", "method", "status", "message", *columns])


def emotion_columns(probabilities: pd.DataFrame) -> list[str]:
    """The ``p_<emotion>`` columns of a probability table."""
    return [c for c in probabilities.columns if c.startswith(PROBABILITY_PREFIX)]


def probability_differences(probabilities: pd.DataFrame) -> pd.DataFrame:
    """Long table: face_id, method, emotion, ``difference = |p_orig - p_anon|`` (faces with both versions only)."""
    columns = emotion_columns(probabilities)
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
