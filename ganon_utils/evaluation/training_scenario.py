"""The training scenario's data and metrics (paper section 4.2, Table 4, Fig. 10).

- Labels of the stage-01 faces: from the dataset adapter's manifest (``dataset_manifest.csv``, written by
  notebook 01 next to ``faces.csv``), or, for data without labels such as the demo, the arg-max of an offline
  classifier on the original face (model-derived labels, reported as such).
- One table per version (``original`` or a method): face id, split, label and the face file of that version.
- The metrics of Table 4 (per-class precision, recall, F1, accuracy, macro and weighted averages) and the
  row-normalised confusion matrix of Fig. 10, always on the ORIGINAL validation faces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganon_utils.evaluation.anonymity import ORIGINAL, anonymized_face_files
from ganon_utils.evaluation.classifiers import ExpressionClassifier, landmark_box
from ganon_utils.evaluation.expression import paper_emotion
from ganon_utils.image_io import image_id_for, load_image
from ganon_utils.preprocess.pipeline import read_stage_outputs
from ganon_utils.stages import PathLike

PAPER_VERSIONS = ("original", "ganonymization", "deepprivacy2", "ciagan")
"""The training versions of the paper's Tables 4 and 5 (one classifier each), in the order of its columns."""
Scores = tuple[float | None, float | None, float]
"""(precision, recall, F1) as the paper prints them; None where it prints none (its accuracy rows)."""
PAPER_TABLE4: dict[str, dict[str, tuple[Scores, Scores, Scores, Scores, int]]] = {
    "affectnet": {
        "neutral": ((0.49, 0.41, 0.45), (0.43, 0.08, 0.14), (0.26, 0.14, 0.18), (0.30, 0.34, 0.32), 360),
        "anger": ((0.58, 0.59, 0.58), (0.34, 0.50, 0.41), (0.22, 0.24, 0.23), (0.28, 0.38, 0.32), 346),
        "contempt": ((0.48, 0.67, 0.56), (0.37, 0.28, 0.32), (0.28, 0.23, 0.25), (0.41, 0.27, 0.33), 354),
        "disgust": ((0.58, 0.54, 0.56), (0.62, 0.12, 0.20), (0.25, 0.36, 0.29), (0.32, 0.44, 0.38), 357),
        "fear": ((0.65, 0.62, 0.63), (0.32, 0.69, 0.44), (0.38, 0.39, 0.38), (0.54, 0.20, 0.29), 357),
        "happy": ((0.57, 0.51, 0.53), (0.30, 0.36, 0.33), (0.28, 0.40, 0.33), (0.39, 0.45, 0.42), 362),
        "sadness": ((0.68, 0.77, 0.72), (0.48, 0.74, 0.58), (0.41, 0.49, 0.45), (0.60, 0.61, 0.60), 352),
        "surprise": ((0.66, 0.55, 0.60), (0.39, 0.19, 0.25), (0.36, 0.16, 0.22), (0.39, 0.36, 0.37), 337),
        "accuracy": ((None, None, 0.58), (None, None, 0.37), (None, None, 0.30), (None, None, 0.38), 2825),
        "macro avg": ((0.59, 0.58, 0.58), (0.41, 0.37, 0.33), (0.31, 0.30, 0.29), (0.40, 0.38, 0.38), 2825),
        "weighted avg": ((0.58, 0.58, 0.58), (0.41, 0.37, 0.33), (0.30, 0.30, 0.29), (0.40, 0.38, 0.38), 2825),
    },
    "ckplus": {
        "anger": ((1.00, 1.00, 1.00), (0.00, 0.00, 0.00), (0.25, 0.33, 0.29), (0.33, 0.22, 0.27), 9),
        "contempt": ((0.75, 1.00, 0.86), (0.00, 0.00, 0.00), (0.00, 0.00, 0.00), (0.67, 0.67, 0.67), 3),
        "disgust": ((1.00, 1.00, 1.00), (0.73, 0.65, 0.69), (0.73, 0.47, 0.57), (0.58, 0.65, 0.61), 17),
        "fear": ((1.00, 1.00, 1.00), (0.75, 1.00, 0.86), (0.25, 0.33, 0.29), (1.00, 0.33, 0.50), 3),
        "happy": ((1.00, 1.00, 1.00), (0.85, 1.00, 0.92), (0.39, 0.41, 0.40), (0.75, 0.53, 0.62), 17),
        "sadness": ((1.00, 1.00, 1.00), (0.25, 0.67, 0.36), (0.00, 0.00, 0.00), (0.20, 0.67, 0.31), 3),
        "surprise": ((1.00, 0.94, 0.97), (0.78, 0.88, 0.82), (0.55, 0.75, 0.63), (0.88, 0.94, 0.91), 16),
        "accuracy": ((None, None, 0.99), (None, None, 0.69), (None, None, 0.46), (None, None, 0.62), 68),
        "macro avg": ((0.96, 0.99, 0.97), (0.48, 0.60, 0.52), (0.31, 0.33, 0.31), (0.63, 0.57, 0.55), 68),
        "weighted avg": ((0.99, 0.99, 0.99), (0.62, 0.69, 0.65), (0.45, 0.46, 0.44), (0.67, 0.62, 0.62), 68),
    },
    "faces": {
        "neutral": ((0.97, 0.97, 0.97), (0.95, 0.56, 0.70), (0.86, 0.53, 0.66), (0.64, 0.64, 0.64), 36),
        "happy": ((0.97, 1.00, 0.99), (0.86, 1.00, 0.92), (0.78, 0.97, 0.86), (0.97, 1.00, 0.99), 36),
        "sadness": ((0.94, 0.94, 0.94), (0.70, 0.72, 0.71), (0.44, 0.58, 0.50), (0.65, 0.67, 0.66), 36),
        "fear": ((1.00, 1.00, 1.00), (0.92, 1.00, 0.96), (0.64, 0.88, 0.74), (0.78, 0.94, 0.85), 34),
        "disgust": ((0.94, 0.94, 0.94), (1.00, 0.67, 0.80), (0.68, 0.58, 0.63), (0.74, 0.56, 0.63), 36),
        "anger": ((0.97, 0.94, 0.96), (0.62, 0.92, 0.74), (0.86, 0.50, 0.63), (0.69, 0.69, 0.69), 36),
        "accuracy": ((None, None, 0.97), (None, None, 0.81), (None, None, 0.67), (None, None, 0.75), 214),
        "macro avg": ((0.97, 0.97, 0.97), (0.84, 0.81, 0.81), (0.71, 0.67, 0.67), (0.75, 0.75, 0.74), 214),
        "weighted avg": ((0.97, 0.97, 0.97), (0.84, 0.81, 0.80), (0.71, 0.67, 0.67), (0.75, 0.75, 0.74), 214),
    },
}  # fmt: skip
"""The paper's Table 4: dataset -> class (the paper's spelling; ``accuracy``, ``macro avg``, ``weighted avg``) ->
(precision, recall, F1) of the classifier trained on each of :data:`PAPER_VERSIONS`, evaluated on the
original validation faces, and the support N (accuracy: F1 only)."""

DATASET_MANIFEST = "dataset_manifest.csv"
LABEL_SOURCES = ("dataset", "model")
TRAIN, VAL = "train", "val"


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
        paths = {f: str(path) for f, path in anonymized_face_files(anonymized_dir, version).items()}
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


def scores_beside_paper(
    reports: dict[str, pd.DataFrame], paper: dict[str, tuple], label: str, spelling: Callable[[str], str] = str
) -> pd.DataFrame:
    """Per-version score tables (``reports``: version -> rows with precision, recall, f1, support) beside the
    paper's printed rows (``paper``: row name in its spelling -> (:data:`Scores` per :data:`PAPER_VERSIONS`, N)).

    Long table with columns ``label``, version, precision, recall, f1, support and their ``paper_`` twins; only
    rows whose name (through ``spelling``) and version the paper has.
    """
    rows = []
    for version, report in reports.items():
        if version not in PAPER_VERSIONS:
            continue
        for name, row in report.iterrows():
            printed = paper.get(spelling(str(name)))
            if printed is None:
                continue
            p, r, f1 = (np.nan if v is None else v for v in printed[PAPER_VERSIONS.index(version)])
            rows.append({label: name, "version": version, "precision": row["precision"], "recall": row["recall"],
                         "f1": row["f1"], "support": int(row["support"]), "paper_precision": p, "paper_recall": r,
                         "paper_f1": f1, "paper_support": printed[-1]})  # fmt: skip
    metrics = ["precision", "recall", "f1", "support"]
    return pd.DataFrame(rows, columns=[label, "version", *metrics, *(f"paper_{m}" for m in metrics)])


def classification_vs_paper(reports: dict[str, pd.DataFrame], dataset: str) -> pd.DataFrame:
    """Table 4 per class and training version (``reports``: version -> :func:`classification_table`) beside the
    paper's, for its datasets (matched by name, ignoring case); class names in its spelling (``sad`` = sadness)."""
    return scores_beside_paper(reports, PAPER_TABLE4.get(dataset.lower(), {}), "class", paper_emotion)


def accuracy_summary(reports: dict[str, pd.DataFrame], dataset: str) -> pd.DataFrame:
    """Table 4 in two numbers per training version: accuracy and macro F1 on the original validation faces, with
    the paper's accuracy (F1 of its accuracy row) where the paper has the dataset and version (else NaN)."""
    paper = PAPER_TABLE4.get(dataset.lower(), {})
    rows = []
    for version, report in reports.items():
        printed = paper.get("accuracy")
        paper_accuracy = printed[:4][PAPER_VERSIONS.index(version)][2] if printed and version in PAPER_VERSIONS else None
        rows.append({"version": version, "accuracy": float(report.loc["accuracy", "f1"]),
                     "macro_f1": float(report.loc["macro avg", "f1"]),
                     "paper_accuracy": np.nan if paper_accuracy is None else paper_accuracy})  # fmt: skip
    return pd.DataFrame(rows, columns=["version", "accuracy", "macro_f1", "paper_accuracy"])
