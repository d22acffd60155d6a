"""The training scenario's data and metrics (paper section 4.2, Table 4, Fig. 10).

- Labels of the stage-01 faces: from the dataset adapter's manifest (``dataset_manifest.csv``, written by
  notebook 01 next to ``faces.csv``), or, for data without labels such as the demo, the arg-max of an offline
  classifier on the original face (model-derived labels, reported as such).
- One table per version (``original`` or a method): face id, split, label and the face file of that version.
- The metrics of Table 4 (per-class precision, recall, F1, accuracy, macro and weighted averages) and the
  row-normalised confusion matrix of Fig. 10, always on the ORIGINAL validation faces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganon_utils.anonymize.pipeline import ANONYMIZED_STATUSES
from ganon_utils.evaluation.anonymity import ORIGINAL, read_method_manifest
from ganon_utils.evaluation.classifiers import ExpressionClassifier, landmark_box
from ganon_utils.image_io import image_id_for, load_image
from ganon_utils.preprocess.pipeline import read_stage_outputs

PAPER_TABLE4_ACCURACY: dict[str, dict[str, float]] = {
    "affectnet": {"original": 0.58, "ganonymization": 0.37, "deepprivacy2": 0.30, "ciagan": 0.38},
    "ckplus": {"original": 0.99, "ganonymization": 0.69, "deepprivacy2": 0.46, "ciagan": 0.62},
    "faces": {"original": 0.97, "ganonymization": 0.81, "deepprivacy2": 0.67, "ciagan": 0.75},
}  # fmt: skip
"""The paper's overall score (Table 4's accuracy row, section 4.2) per dataset and training version."""

DATASET_MANIFEST = "dataset_manifest.csv"
LABEL_SOURCES = ("dataset", "model")
TRAIN, VAL = "train", "val"

PathLike = str | os.PathLike[str]


def read_dataset_manifest(preprocess_dir: PathLike) -> pd.DataFrame:
    """The adapter's manifest that notebook 01 keeps next to ``faces.csv``, with each row's ``image_id``."""
    preprocess_dir = Path(preprocess_dir)
    path = preprocess_dir / DATASET_MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the faces of {preprocess_dir} have no labels (preprocess the dataset with its adapter "
            "in notebook 01, or use label_source='model' for model-derived labels)"
        )
    manifest = pd.read_csv(path, dtype={"image_path": str, "label": str}, keep_default_na=False)
    return manifest.assign(image_id=[image_id_for(p) for p in manifest["image_path"]])


def faces_with_images(preprocess_dir: PathLike) -> tuple[pd.DataFrame, int]:
    """Stage-01 faces that have an image, and the face side in pixels."""
    faces, config = read_stage_outputs(preprocess_dir)
    return faces[faces["face_path"] != ""].reset_index(drop=True), int(config["image_size"])


def dataset_labels(preprocess_dir: PathLike) -> pd.DataFrame:
    """Faces with an image and a label from the adapter's manifest: face_id, image_id, split, label."""
    manifest = read_dataset_manifest(preprocess_dir)
    faces, _ = faces_with_images(preprocess_dir)
    faces = faces.assign(label=faces["image_id"].map(dict(zip(manifest["image_id"], manifest["label"]))).fillna(""))
    return faces.loc[faces["label"] != "", ["face_id", "image_id", "split", "label"]].reset_index(drop=True)


def original_face_probabilities(
    preprocess_dir: PathLike, classifier: ExpressionClassifier, batch_size: int = 32
) -> tuple[pd.DataFrame, np.ndarray]:
    """Stage-01 faces with an image and ``classifier``'s probabilities on each (crop: its landmark box)."""
    preprocess_dir = Path(preprocess_dir)
    faces, size = faces_with_images(preprocess_dir)
    parts = []
    for start in range(0, len(faces), batch_size):
        batch = faces.iloc[start : start + batch_size]
        images = [load_image(preprocess_dir / p).rgb for p in batch["face_path"]]
        boxes = [landmark_box(np.load(preprocess_dir / p), size, size) if p else None for p in batch["landmarks_path"]]
        parts.append(classifier.predict_proba(images, boxes))
    return faces, (np.concatenate(parts) if parts else np.zeros((0, len(classifier.classes)), np.float32))


def model_labels(preprocess_dir: PathLike, classifier: ExpressionClassifier, batch_size: int = 32) -> pd.DataFrame:
    """Faces labelled with ``classifier``'s most probable emotion on the original face (model-derived labels)."""
    faces, probabilities = original_face_probabilities(preprocess_dir, classifier, batch_size)
    labels = [classifier.classes[i] for i in probabilities.argmax(axis=1)]
    return faces.assign(label=labels)[["face_id", "image_id", "split", "label"]]


def ensure_train_val(labels: pd.DataFrame, val_fraction: float, seed: int = 0) -> pd.DataFrame:
    """Keep the dataset's train/val splits; when there are none, draw ``val_fraction`` of the images as val.

    Images, not faces, are drawn, so faces of one photo never sit on both sides.
    """
    splits = set(labels["split"])
    if {TRAIN, VAL} <= splits:
        return labels[labels["split"].isin([TRAIN, VAL])].reset_index(drop=True)
    images = labels["image_id"].drop_duplicates().to_numpy()
    if len(images) < 2:
        raise ValueError("at least two images are needed to draw a validation split")
    rng = np.random.default_rng(seed)
    n_val = min(len(images) - 1, max(1, round(val_fraction * len(images))))
    val_images = set(rng.choice(images, size=n_val, replace=False))
    return labels.assign(split=np.where(labels["image_id"].isin(val_images), VAL, TRAIN))


def version_faces(labels: pd.DataFrame, preprocess_dir: PathLike, anonymized_dir: PathLike, version: str) -> pd.DataFrame:
    """``labels`` with the ``path`` of each face in ``version`` (``original`` or a method); faces it lacks are dropped."""
    if version == ORIGINAL:
        faces, _ = read_stage_outputs(preprocess_dir)
        paths = {f: str(Path(preprocess_dir) / p) for f, p in zip(faces["face_id"], faces["face_path"]) if p}
    else:
        manifest = read_method_manifest(anonymized_dir, version)
        done = manifest[manifest["status"].isin(ANONYMIZED_STATUSES) & (manifest["face_path"] != "")]
        paths = {f: str(Path(anonymized_dir) / version / p) for f, p in zip(done["face_id"], done["face_path"])}
    table = labels.assign(path=labels["face_id"].map(paths))
    return table.dropna(subset=["path"]).reset_index(drop=True)


def classification_table(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> pd.DataFrame:
    """Table 4 for one classifier: rows per class, ``accuracy``, ``macro avg``, ``weighted avg``; columns
    precision, recall, f1, support (accuracy: its value in every metric column, support = all faces)."""
    from sklearn.metrics import classification_report

    report = classification_report(list(y_true), list(y_pred), labels=list(classes), output_dict=True, zero_division=0)
    rows = {name: report[name] for name in [*classes, "macro avg", "weighted avg"]}
    accuracy = float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else float("nan")
    rows["accuracy"] = {"precision": accuracy, "recall": accuracy, "f1-score": accuracy, "support": len(y_true)}
    table = pd.DataFrame(rows).T.rename(columns={"f1-score": "f1"})
    table = table.loc[[*classes, "accuracy", "macro avg", "weighted avg"]]
    return table.astype({"support": int})


def confusion_table(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> pd.DataFrame:
    """Row-normalised confusion matrix (rows: true class, columns: predicted); rows of absent classes are 0."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(list(y_true), list(y_pred), labels=list(classes)).astype(float)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    return pd.DataFrame(normalised, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def accuracy_vs_paper(reports: dict[str, pd.DataFrame], dataset: str) -> pd.DataFrame:
    """Accuracy per training version (``reports``: version -> :func:`classification_table`) next to the paper's.

    Rows: versions; columns ``accuracy`` and ``paper_accuracy`` (NaN where the paper reports none, e.g. the
    demo data or a baseline it did not train on). ``dataset`` is matched by name, ignoring case.
    """
    paper = PAPER_TABLE4_ACCURACY.get(dataset.lower(), {})
    rows = [{"version": v, "accuracy": float(r.loc["accuracy", "f1"]), "paper_accuracy": paper.get(v, np.nan)}
            for v, r in reports.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["version", "accuracy", "paper_accuracy"]).set_index("version")
