"""Checks that say when an evaluation table is degenerate, so the report prints it beside the table.

Two rules, for single-label (expression) and multi-label (attribute) evaluations alike:

- **one state dominates**: a classifier that predicts one class for more than ``max_share`` (90%) of the faces
  (multi-label: an attribute predicted present, or absent, for more than 90% of the faces). Its accuracy is then
  close to the share of that class among the faces, the majority-class rate, and says nothing about whether it
  tells classes apart.
- **too few faces**: a class with fewer than ``min_faces`` (5) evaluated faces (multi-label: fewer than 5 faces
  with the attribute). Its precision, recall and F1 rest on a handful of faces or none.

Each check returns plain sentences (an empty list when all is well); :func:`degenerate_note` joins them into the
Markdown blockquote the notebooks display next to the table (nothing when the list is empty).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_SHARE = 0.9
"""A classifier predicting one class (one state of an attribute) for more than this share of faces is degenerate."""
MIN_FACES = 5
"""A class (attribute) with fewer evaluated (positive) faces than this has no meaningful per-class scores."""
NOTE_PREFIX = "> **Degenerate evaluation:**"


@dataclass(frozen=True)
class LabelShare:
    """The most frequent label of a sequence and its share (NaN share, empty label for no labels)."""

    label: str
    share: float
    count: int
    total: int


def most_common(labels: Sequence[str]) -> LabelShare:
    """The most frequent label and its share; ties go to the label that comes first in sorted order."""
    counts = Counter(str(label) for label in labels)
    total = sum(counts.values())
    if not total:
        return LabelShare("", float("nan"), 0, 0)
    label, count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    return LabelShare(label, count / total, count, total)


def majority_rate(labels: Sequence[str]) -> float:
    """Accuracy of always predicting the most frequent label: the share of that label (NaN for no labels)."""
    return most_common(labels).share


def class_counts(labels: Sequence[str], classes: Sequence[str]) -> dict[str, int]:
    """Faces per class (classes without faces count 0), in the order of ``classes``."""
    counts = Counter(str(label) for label in labels)
    return {str(c): int(counts.get(str(c), 0)) for c in classes}


FEW_FACES_CONSEQUENCE = "their precision, recall and F1 rest on too few faces to mean anything"
ONE_CLASS_CONSEQUENCE = "it hardly tells the classes apart"


def few_faces_warning(
    counts: Mapping[str, int],
    what: str,
    min_faces: int = MIN_FACES,
    *,
    kind: str = "classes",
    consequence: str = FEW_FACES_CONSEQUENCE,
) -> str | None:
    """One sentence naming the entries of ``counts`` below ``min_faces`` (None when there are none).

    ``what`` says what was counted (``"validation faces"``), ``kind`` what the entries are (``"classes"``,
    ``"attributes"``), ``consequence`` what that means for the table.
    """
    few = {name: int(n) for name, n in counts.items() if n < min_faces}
    if not few:
        return None
    listed = ", ".join(f"{name} ({n})" for name, n in few.items())
    return f"{len(few)} of {len(counts)} {kind} have fewer than {min_faces} {what}: {listed}; {consequence}."


def concentration_warning(
    predicted_labels: Sequence[str],
    name: str = "the classifier",
    max_share: float = MAX_SHARE,
    true_labels: Sequence[str] | None = None,
    *,
    consequence: str = ONE_CLASS_CONSEQUENCE,
) -> str | None:
    """One sentence when ``name`` predicts one class for more than ``max_share`` of the faces (else None).

    With ``true_labels`` the sentence also gives the accuracy such a classifier has by predicting that class alone
    (its share among the true labels) and the majority-class rate.
    """
    top = most_common(predicted_labels)
    if not top.total or top.share <= max_share:
        return None
    sentence = f"{name} predicts '{top.label}' for {top.share:.0%} of the {top.total} faces (over {max_share:.0%}); {consequence}"
    if true_labels is not None and len(true_labels):
        true = [str(label) for label in true_labels]
        majority = most_common(true)
        share = true.count(top.label) / len(true)
        rate = ("the majority-class rate" if top.label == majority.label
                else f"the majority-class rate is {majority.share:.2f}, the share of '{majority.label}'")  # fmt: skip
        sentence += (f"; its accuracy is about the share of '{top.label}' among the true labels ({share:.2f}; {rate}), "
                     "not evidence that it recognises the classes")  # fmt: skip
    return sentence + "."


def degenerate_warnings(
    true_labels: Sequence[str] | None,
    predicted_labels: Sequence[str] | None,
    classes: Sequence[str],
    *,
    name: str = "the classifier",
    what: str = "validation faces",
    max_share: float = MAX_SHARE,
    min_faces: int = MIN_FACES,
    one_class_consequence: str = ONE_CLASS_CONSEQUENCE,
    few_faces_consequence: str = FEW_FACES_CONSEQUENCE,
) -> list[str]:
    """The sentences that make a single-label evaluation degenerate; empty when all is well.

    Args:
        true_labels: the label of each evaluated face (None: skip the too-few-faces rule).
        predicted_labels: the classifier's label of each face (None: skip the one-class rule).
        classes: every class of the table (a class without faces counts 0).
        name: who predicted, for the sentence (e.g. ``"the classifier trained on GANonymization"``).
        what: what the faces of ``true_labels`` are, for the sentence.
        one_class_consequence, few_faces_consequence: what each finding means for the table.
    """
    warnings = []
    if predicted_labels is not None:
        concentrated = concentration_warning(
            list(predicted_labels), name, max_share, None if true_labels is None else list(true_labels),
            consequence=one_class_consequence,
        )  # fmt: skip
        if concentrated:
            warnings.append(concentrated)
    if true_labels is not None:
        few = few_faces_warning(class_counts(list(true_labels), classes), what, min_faces, consequence=few_faces_consequence)
        if few:
            warnings.append(few)
    return warnings


def classifiers_warnings(
    true_labels: Sequence[str],
    predicted: Mapping[str, Sequence[str]],
    classes: Sequence[str],
    *,
    what: str = "validation faces",
    max_share: float = MAX_SHARE,
    min_faces: int = MIN_FACES,
) -> list[str]:
    """:func:`degenerate_warnings` for several classifiers evaluated on the same faces (``predicted``: name ->
    labels; e.g. ``"the classifier trained on GANonymization"``): one sentence per classifier that predicts one
    class for most faces, then the classes with too few faces once."""
    warnings = [w for name, labels in predicted.items()
                for w in degenerate_warnings(true_labels, labels, classes, name=name, max_share=max_share, min_faces=0)]  # fmt: skip
    return warnings + degenerate_warnings(true_labels, None, classes, what=what, min_faces=min_faces)


def multilabel_degenerate_warnings(
    true: np.ndarray | None,
    predicted: np.ndarray | None,
    attributes: Sequence[str],
    *,
    name: str = "the classifier",
    what: str = "validation faces with the attribute",
    max_share: float = MAX_SHARE,
    min_faces: int = MIN_FACES,
) -> list[str]:
    """The sentences that make a multi-label evaluation degenerate; empty when all is well.

    ``true`` and ``predicted`` are (faces, attributes) 0/1 arrays (either may be None to skip its rule). An
    attribute is flagged when fewer than ``min_faces`` faces have it (``true``), or when ``predicted`` gives one
    state, present or absent, for more than ``max_share`` of the faces.
    """
    attributes = [str(a) for a in attributes]
    warnings = []
    if predicted is not None:
        predicted = np.asarray(predicted).astype(bool).reshape(-1, len(attributes))
        if len(predicted):
            present = predicted.mean(axis=0)
            stuck = [(a, "present", p) if p > max_share else (a, "absent", 1 - p)
                     for a, p in zip(attributes, present) if p > max_share or 1 - p > max_share]  # fmt: skip
            if stuck:
                listed = ", ".join(f"{a} {state} for {share:.0%}" for a, state, share in stuck)
                warnings.append(f"{name} predicts one state for more than {max_share:.0%} of the {len(predicted)} faces: "
                                f"{listed}; its scores for these attributes are close to the majority-state rate, not "
                                "evidence that it recognises them.")  # fmt: skip
    if true is not None:
        positives = np.asarray(true).astype(bool).reshape(-1, len(attributes)).sum(axis=0)
        few = few_faces_warning(dict(zip(attributes, positives.tolist())), what, min_faces, kind="attributes")
        if few:
            warnings.append(few)
    return warnings


def multilabel_classifiers_warnings(
    true: np.ndarray,
    predicted: Mapping[str, np.ndarray],
    attributes: Sequence[str],
    *,
    what: str = "validation faces with the attribute",
    max_share: float = MAX_SHARE,
    min_faces: int = MIN_FACES,
) -> list[str]:
    """:func:`multilabel_degenerate_warnings` for several classifiers on the same faces (``predicted``: name ->
    (faces, attributes) 0/1 array): one sentence per classifier stuck on one state, then the rare attributes once."""
    warnings = [w for name, labels in predicted.items()
                for w in multilabel_degenerate_warnings(None, labels, attributes, name=name, max_share=max_share)]  # fmt: skip
    return warnings + multilabel_degenerate_warnings(true, None, attributes, what=what, min_faces=min_faces)


INFERENCE_ONE_CLASS = (
    "the faces hardly span the emotions, so the rows of the other emotions measure changes of probabilities that "
    "are low on almost every face, not how a method keeps those emotions"
)
INFERENCE_FEW_FACES = (
    "their rows measure changes of a probability that is low on almost every face, not how a method keeps that emotion"
)


def inference_warnings(
    original_labels: Sequence[str],
    classes: Sequence[str],
    *,
    name: str = "the classifier",
    max_share: float = MAX_SHARE,
    min_faces: int = MIN_FACES,
) -> list[str]:
    """The inference scenario's checks (Tables 2-3 have no ground truth): ``original_labels`` is the classifier's
    arg-max on each original face. Flags one emotion taking more than ``max_share`` of the originals, and emotions
    that are the arg-max of fewer than ``min_faces`` originals."""
    labels = [str(v) for v in original_labels]
    warnings = degenerate_warnings(None, labels, classes, name=name, max_share=max_share,
                                   one_class_consequence=INFERENCE_ONE_CLASS)  # fmt: skip
    few = few_faces_warning(class_counts(labels, classes), "original faces as the classifier's arg-max", min_faces,
                            kind="emotions", consequence=INFERENCE_FEW_FACES)  # fmt: skip
    return warnings + ([few] if few else [])


def removal_warnings(faces_with_attribute: Mapping[str, int], min_faces: int = MIN_FACES) -> list[str]:
    """Table 6's check: attributes seen on fewer than ``min_faces`` original faces (``faces_with_attribute``:
    attribute -> count), whose removal rates rest on a handful of faces or none."""
    few = few_faces_warning({str(a): int(n) if pd.notna(n) else 0 for a, n in faces_with_attribute.items()},
                            "original validation faces with the attribute", min_faces, kind="attributes",
                            consequence="their removal rates rest on too few faces to mean anything")  # fmt: skip
    return [few] if few else []


def prediction_spread(true_labels: Sequence[str], predicted: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per classifier (``predicted``: name -> labels of the same faces as ``true_labels``): accuracy
    beside the majority-class rate of the true labels (the accuracy of always guessing the commonest class), and
    the most predicted class with its share of the faces."""
    true = [str(t) for t in true_labels]
    majority = most_common(true)
    rows = []
    for name, labels in predicted.items():
        labels = [str(p) for p in labels]
        top = most_common(labels)
        accuracy = float(np.mean(np.asarray(true) == np.asarray(labels))) if len(true) else float("nan")
        rows.append({"version": name, "accuracy": accuracy, "majority_class": majority.label,
                     "majority_rate": majority.share, "most_predicted": top.label, "most_predicted_share": top.share,
                     "faces": len(true)})  # fmt: skip
    table = pd.DataFrame(rows, columns=["version", "accuracy", "majority_class", "majority_rate", "most_predicted",
                                        "most_predicted_share", "faces"])  # fmt: skip
    return table


def degenerate_note(warnings: Sequence[str], subject: str = "") -> str:
    """The Markdown blockquote for the report (``""`` when ``warnings`` is empty).

    It starts with ``> **Degenerate evaluation:**``, then ``subject`` (e.g. the dataset) and one bullet per
    sentence; a single sentence without a subject stays on the first line.
    """
    if not warnings:
        return ""
    subject = subject.strip()
    if not subject and len(warnings) == 1:
        return f"{NOTE_PREFIX} {warnings[0]}"
    head = f"{NOTE_PREFIX} {subject}" if subject else NOTE_PREFIX
    return "\n".join([head, ">", *(f"> - {w}" for w in warnings)])
