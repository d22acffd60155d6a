"""The degenerate-evaluation checks: each rule triggered by constructed labels, and silence when all is well."""

from __future__ import annotations

import numpy as np
import pytest

from ganon_utils.evaluation.degenerate import (
    NOTE_PREFIX,
    degenerate_note,
    degenerate_warnings,
    majority_rate,
    most_common,
    multilabel_degenerate_warnings,
    prediction_spread,
)

CLASSES = ["angry", "happy", "sad"]
BALANCED = ["angry"] * 6 + ["happy"] * 6 + ["sad"] * 6


def test_nothing_when_all_is_well() -> None:
    predicted = ["angry"] * 5 + ["happy"] * 7 + ["sad"] * 6
    assert degenerate_warnings(BALANCED, predicted, CLASSES) == []
    assert degenerate_note([]) == ""
    true = np.array([[1, 0], [0, 1]] * 5)
    assert multilabel_degenerate_warnings(true, true, ["Male", "Young"]) == []


def test_one_predicted_class_for_over_90_percent_of_faces() -> None:
    true = ["happy"] * 16 + ["angry"] * 6 + ["sad"] * 6  # 28 faces, every class with at least 5
    predicted = ["happy"] * 26 + ["sad"] * 2  # 93% happy
    warnings = degenerate_warnings(true, predicted, CLASSES, name="the classifier trained on GANonymization")
    assert len(warnings) == 1
    assert "the classifier trained on GANonymization predicts 'happy' for 93% of the 28 faces" in warnings[0]
    assert "its accuracy is about the share of 'happy' among the true labels (0.57; the majority-class rate)" in warnings[0]
    other = degenerate_warnings(true, ["sad"] * 28, CLASSES)[0]  # stuck on a minority class
    assert "share of 'sad' among the true labels (0.21; the majority-class rate is 0.57, the share of 'happy')" in other
    # exactly 90% is not over 90%
    assert degenerate_warnings(["a"] * 10, ["a"] * 9 + ["b"], ["a", "b"], min_faces=0) == []
    note = degenerate_note(warnings)
    assert note.startswith(NOTE_PREFIX + " the classifier") and "\n" not in note


def test_classes_with_fewer_than_five_faces() -> None:
    true = ["happy"] * 8 + ["angry"] * 4 + ["sad"]  # 'surprise' has none
    predicted = ["happy"] * 5 + ["angry"] * 4 + ["sad"] * 4
    warnings = degenerate_warnings(true, predicted, [*CLASSES, "surprise"])
    assert warnings == [
        "3 of 4 classes have fewer than 5 validation faces: angry (4), sad (1), surprise (0); their precision, recall "
        "and F1 rest on too few faces to mean anything."
    ]
    both = degenerate_warnings(true, ["happy"] * len(true), [*CLASSES, "surprise"])
    assert len(both) == 2
    note = degenerate_note(both, "demo, Table 4")
    assert note.splitlines()[0] == f"{NOTE_PREFIX} demo, Table 4" and all(line.startswith(">") for line in note.splitlines())
    assert note.count("\n> - ") == 2


def test_either_rule_can_be_skipped() -> None:
    assert degenerate_warnings(None, ["happy"] * 10, CLASSES)[0].startswith("the classifier predicts 'happy' for 100%")
    assert "majority-class" not in degenerate_warnings(None, ["happy"] * 10, CLASSES)[0]
    assert degenerate_warnings(["happy"], None, CLASSES)[0].startswith("3 of 3 classes have fewer than 5")


def test_majority_rate_and_most_common() -> None:
    assert majority_rate(["a", "b", "b", "c"]) == pytest.approx(0.5)
    assert np.isnan(majority_rate([]))
    assert most_common(["b", "a"]).label == "a"  # ties: first in sorted order


def test_prediction_spread_puts_the_majority_rate_beside_the_accuracy() -> None:
    true = ["happy"] * 10 + ["sad"] * 2
    table = prediction_spread(true, {"original": ["happy"] * 12, "blur9": ["sad"] * 6 + ["happy"] * 6}).set_index("version")
    assert table.loc["original", "accuracy"] == pytest.approx(10 / 12) == table.loc["original", "majority_rate"]
    assert table.loc["original", "most_predicted"] == "happy" and table.loc["original", "most_predicted_share"] == 1.0
    assert table.loc["blur9", "most_predicted_share"] == 0.5 and table.loc["blur9", "majority_class"] == "happy"


def test_multilabel_rules() -> None:
    attributes = ["Male", "Young", "Bald"]
    true = np.zeros((20, 3), int)
    true[:10, 0] = 1  # Male: 10 positives
    true[:12, 1] = 1  # Young: 12
    true[:3, 2] = 1  # Bald: 3 -> too few
    predicted = true.copy()
    predicted[:, 1] = 1  # Young predicted for every face -> one state for 100%
    predicted[:, 2] = 0  # Bald never predicted -> 'absent' for 100%
    warnings = multilabel_degenerate_warnings(true, predicted, attributes)
    assert len(warnings) == 2
    assert "Young present for 100%" in warnings[0] and "Bald absent for 100%" in warnings[0] and "Male" not in warnings[0]
    assert warnings[1].startswith("1 of 3 attributes have fewer than 5 validation faces with the attribute: Bald (3)")
    assert multilabel_degenerate_warnings(true, None, attributes) == warnings[1:]
    assert multilabel_degenerate_warnings(None, predicted, attributes) == warnings[:1]


def test_several_classifiers_on_the_same_faces() -> None:
    from ganon_utils.evaluation.degenerate import classifiers_warnings

    true = ["happy"] * 10 + ["sad"] * 2
    predicted = {"the classifier trained on Original": ["happy"] * 12, "the classifier trained on Blur": true}
    warnings = classifiers_warnings(true, predicted, ["happy", "sad"])
    assert len(warnings) == 2  # one classifier stuck on 'happy'; 'sad' has 2 faces (said once)
    assert warnings[0].startswith("the classifier trained on Original predicts 'happy' for 100% of the 12 faces")
    assert "(0.83; the majority-class rate)" in warnings[0]
    assert warnings[1].startswith("1 of 2 classes have fewer than 5 validation faces: sad (2)")
    assert classifiers_warnings(BALANCED, {"a": BALANCED, "b": BALANCED[::-1]}, CLASSES) == []


def test_inference_and_removal_checks() -> None:
    import pandas as pd

    from ganon_utils.evaluation.degenerate import inference_warnings, multilabel_classifiers_warnings, removal_warnings

    original = ["happy"] * 19 + ["sad"]
    warnings = inference_warnings(original, ["angry", "happy", "sad"], name="the classifier (fer)")
    assert warnings[0].startswith("the classifier (fer) predicts 'happy' for 95% of the 20 faces")
    assert "majority-class" not in warnings[0] and "hardly span the emotions" in warnings[0]
    assert warnings[1].startswith(
        "2 of 3 emotions have fewer than 5 original faces as the classifier's arg-max: angry (0), sad (1)"
    )
    assert inference_warnings(["angry"] * 6 + ["happy"] * 7 + ["sad"] * 5, ["angry", "happy", "sad"]) == []

    assert removal_warnings(pd.Series({"Male": 12, "Bald": 2, "Hat": float("nan")})) == [
        "2 of 3 attributes have fewer than 5 original validation faces with the attribute: Bald (2), Hat (0); their "
        "removal rates rest on too few faces to mean anything."
    ]
    assert removal_warnings({"Male": 5}) == []

    true = np.array([[1, 0], [0, 1]] * 5)
    stuck = np.ones_like(true)
    warnings = multilabel_classifiers_warnings(true, {"A": true, "B": stuck}, ["Male", "Young"])
    assert len(warnings) == 1 and warnings[0].startswith("B predicts one state for more than 90% of the 10 faces")
