"""Classifier probabilities for every version of every face: the original and each method's (same face ids).

Shared by the inference scenario (:mod:`~ganon_utils.evaluation.expression`) and trait removal
(:mod:`~ganon_utils.evaluation.traits`). Each row holds one ``p_<class>`` column per class of the classifier;
a face a method did not anonymise, or whose file cannot be read, keeps its row with a status and no
probabilities. All versions of a face are classified with the original face's crop (its landmark box).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganon_utils.evaluation.anonymity import ORIGINAL, read_method_manifest
from ganon_utils.evaluation.classifiers import Box, ExpressionClassifier, landmark_box
from ganon_utils.image_io import ImageLoadError, load_image
from ganon_utils.preprocess.pipeline import read_stage_outputs
from ganon_utils.progress import progress_bar
from ganon_utils.stages import (
    ANONYMIZED_STATUSES,
    STATUS_NOT_ANONYMIZED,
    STATUS_OK,
    STATUS_UNREADABLE,
    PathLike,
)

PROBABILITY_PREFIX = "p_"


def face_boxes(preprocess_dir: Path, faces: pd.DataFrame, face_size: int) -> dict[str, Box | None]:
    """Landmark box of each original face (None without landmarks): the crop used for all its versions."""
    boxes: dict[str, Box | None] = {}
    for face in faces.itertuples(index=False):
        boxes[face.face_id] = None
        if face.landmarks_path:
            landmarks = np.load(preprocess_dir / face.landmarks_path, allow_pickle=False)
            boxes[face.face_id] = landmark_box(landmarks, face_size, face_size)
    return boxes


def classify_files(
    files: Mapping[str, Path],
    classifier: ExpressionClassifier,
    *,
    boxes: Mapping[str, Box | None] | None = None,
    batch_size: int = 32,
    advance: Callable[[int], Any] = lambda n: None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Probabilities per face id for image files (read batch by batch, never all at once), and the read errors."""
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
        crops = [None if boxes is None else boxes.get(i) for i in ids]
        for face_id, row in zip(ids, classifier.predict_proba(images, crops) if images else []):
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
    bar = progress_bar(total=sum(len(v[0]) for v in versions.values()), desc=f"class probabilities ({classifier.name})",
               unit="face", disable=not progress)  # fmt: skip
    try:
        for version, (files, reasons) in versions.items():
            probabilities, errors = classify_files(files, classifier, boxes=boxes, batch_size=batch_size, advance=bar.update)
            for face in faces.itertuples(index=False):
                row: dict[str, Any] = {"face_id": face.face_id, "image_id": face.image_id, "split": face.split,
                                       "method": version, "status": STATUS_OK, "message": ""}  # fmt: skip
                if face.face_id in probabilities:
                    row.update(zip(columns, probabilities[face.face_id].tolist()))
                elif face.face_id in errors:
                    row.update(status=STATUS_UNREADABLE, message=errors[face.face_id])
                else:
                    row.update(
                        status=STATUS_NOT_ANONYMIZED, message=reasons.get(face.face_id, f"{version}: no entry in its manifest")
                    )
                rows.append(row)
    finally:
        bar.close()
    return pd.DataFrame(rows, columns=["face_id", "image_id", "split", "method", "status", "message", *columns])


def probability_columns(probabilities: pd.DataFrame) -> list[str]:
    """The ``p_<class>`` columns of a probability table."""
    return [c for c in probabilities.columns if c.startswith(PROBABILITY_PREFIX)]
