"""Notebook 03's held-out checks: Cohen's kappa against scikit-learn, the agreement numbers, detection shares,
and the whole table on a constructed stage-01 / stage-03 folder with stand-in detectors and classifier."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganon_utils.evaluation.held_out import (
    agreement,
    cohen_kappa,
    detection_shares,
    held_out_checks,
    held_out_headline,
)
from ganon_utils.preprocess.detection import FaceDetection


@pytest.mark.parametrize("seed", range(6))
def test_cohen_kappa_matches_scikit_learn(seed) -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(seed)
    labels = ["angry", "happy", "neutral", "sad", "surprise"][: 2 + seed % 4]
    first = rng.choice(labels, size=40 + seed)
    second = np.where(rng.random(len(first)) < 0.6, first, rng.choice(labels, size=len(first)))
    assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second), abs=1e-12)
    # labels one side never uses
    other = rng.choice(["happy", "fear"], size=len(first))
    assert cohen_kappa(first, other) == pytest.approx(cohen_kappa_score(first, other), abs=1e-12)


def test_cohen_kappa_edge_cases() -> None:
    from sklearn.metrics import cohen_kappa_score

    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    assert np.isnan(cohen_kappa([], []))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score(["a", "a"], ["a", "a"]))
    assert np.isnan(cohen_kappa(["a", "a"], ["a", "a"]))  # one label throughout: undefined, as in scikit-learn
    assert cohen_kappa(["a", "a", "a"], ["a", "b", "a"]) == pytest.approx(0.0)  # a constant side agrees by chance only
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_agreement_reports_accuracy_majority_rate_and_kappa() -> None:
    original = ["happy"] * 8 + ["sad"] * 2
    anonymized = ["happy"] * 10  # always the majority class: accuracy = majority rate, kappa 0
    found = agreement(original, anonymized)
    assert found.faces == 10 and found.accuracy == pytest.approx(0.8) and found.majority_rate == pytest.approx(0.8)
    assert found.kappa == pytest.approx(0.0)
    assert agreement(original, original).kappa == pytest.approx(1.0)


def test_sample_faces_is_seeded_and_keeps_the_order() -> None:
    from ganon_utils.evaluation.held_out import sample_faces

    ids = [f"f{i:02d}" for i in range(20)]
    assert sample_faces(ids, None) == ids and sample_faces(ids, 30) == ids
    picked = sample_faces(ids, 5, seed=3)
    assert len(picked) == 5 and picked == sorted(picked) and picked == sample_faces(ids, 5, seed=3)
    with pytest.raises(ValueError):
        sample_faces(ids, 0)


def test_detection_shares_each_detector_and_all() -> None:
    flags = pd.DataFrame({"face_id": list("abcd"), "yunet": [True, True, False, True], "mtcnn": [True, False, False, True]})
    assert detection_shares(flags, ["yunet", "mtcnn"]) == {"detected_yunet": 0.75, "detected_mtcnn": 0.5, "detected_all": 0.5}
    empty = detection_shares(flags.iloc[:0], ["yunet"])
    assert set(empty) == {"detected_yunet", "detected_all"} and all(np.isnan(v) for v in empty.values())


class BrightFace:
    """Stand-in detector: a face wherever the image's mean exceeds ``level``."""

    def __init__(self, name: str, level: float) -> None:
        self.name, self.level = name, level

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        return [FaceDetection((0, 0, 10, 10), (3, 3), (7, 3), 1.0)] if rgb.mean() > self.level else []


class RedOrGreen:
    """Stand-in classifier: 'red' when the red channel is brighter than the green one, else 'green'."""

    name, description, classes = "colour", "test classifier", ("green", "red")

    def predict_proba(self, faces, boxes) -> np.ndarray:
        red = np.array([float(f[..., 0].mean() > f[..., 1].mean()) for f in faces])
        return np.stack([1 - red, red], axis=1) * 0.8 + 0.1


def write_face(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((48, 48, 3), colour, np.uint8)).save(path)


def constructed_run(root: Path) -> tuple[Path, Path]:
    """Six stage-01 faces (4 red, 2 green) and two methods: 'keep' copies them darker, 'flip' makes them all green
    and leaves out one face."""
    stage01, stage03 = root / "processed", root / "anonymized"
    colours = [(200, 50, 50)] * 4 + [(50, 200, 50)] * 2
    rows = []
    for i, colour in enumerate(colours):
        write_face(stage01 / "faces" / "all" / f"f{i}.png", colour)
        rows.append({"face_id": f"f{i}", "image_id": f"i{i}", "split": "all", "status": "ok",
                     "face_path": f"faces/all/f{i}.png", "landmarks_path": ""})  # fmt: skip
    pd.DataFrame(rows).to_csv(stage01 / "faces.csv", index=False)
    (stage01 / "config.json").write_text(json.dumps({"image_size": 48}))
    for method, colour_of, skipped in [
        ("keep", lambda c: tuple(v // 2 for v in c), None),
        ("flip", lambda c: (40, 90, 40), "f5"),
    ]:
        manifest = []
        for i, colour in enumerate(colours):
            face_id = f"f{i}"
            if face_id == skipped:
                manifest.append({"face_id": face_id, "status": "skipped", "face_path": "", "message": "no image"})
                continue
            write_face(stage03 / method / "all" / f"{face_id}.png", colour_of(colour))
            manifest.append({"face_id": face_id, "status": "ok", "face_path": f"all/{face_id}.png", "message": ""})
        pd.DataFrame(manifest).to_csv(stage03 / method / "manifest.csv", index=False)
    return stage01, stage03


def test_held_out_checks_on_a_constructed_run(tmp_path, monkeypatch) -> None:
    import ganon_utils.evaluation.held_out as held_out

    stage01, stage03 = constructed_run(tmp_path)
    detectors = {"bright": BrightFace("bright", 50), "dim": BrightFace("dim", 30)}
    table = held_out_checks(stage01, stage03, ["keep", "flip", "absent"], detectors, RedOrGreen())
    rows = table.set_index("method")
    assert rows.index.tolist() == ["original", "keep", "flip"]  # a method without a folder is left out
    assert rows.loc["original", "faces"] == 6 and rows.loc["flip", "faces"] == 5
    assert rows.loc["original", "detected_all"] == 1.0
    # 'keep' halves the brightness: means 50 (red) and 50 (green) -> 'bright' (> 50) finds none, 'dim' all
    assert rows.loc["keep", "detected_bright"] == 0.0 and rows.loc["keep", "detected_dim"] == 1.0
    assert rows.loc["keep", "detected_all"] == 0.0
    assert rows.loc["keep", "expression_accuracy"] == 1.0 and rows.loc["keep", "kappa"] == pytest.approx(1.0)
    # 'flip': 5 faces, all green; originals 4 red + 1 green -> accuracy 0.2, majority rate 0.8, kappa 0
    assert rows.loc["flip", "expression_faces"] == 5 and rows.loc["flip", "expression_accuracy"] == pytest.approx(0.2)
    assert rows.loc["flip", "majority_rate"] == pytest.approx(0.8) and rows.loc["flip", "kappa"] == pytest.approx(0.0)
    assert np.isnan(rows.loc["original", "kappa"]) and (table["target"] == "").all()  # no GANonymization row

    # Renamed so the targets apply: 'keep' as ganonymization, 'flip' as pixel8.
    monkeypatch.setattr(held_out, "GANONYMIZATION", "keep")
    monkeypatch.setattr(held_out, "KAPPA_BASELINE", "flip")
    table = held_out.held_out_checks(stage01, stage03, ["keep", "flip"], detectors, RedOrGreen())
    target = table.set_index("method").loc["keep", "target"]
    assert "found by every detector >= 80%: not met" in target and "kappa above flip's (0.00): met" in target
    headline = held_out.held_out_headline(table)
    assert "0% of GANonymization's faces" in headline and "1.00 vs 0.00 for flip" in headline

    assert held_out_checks(stage01, stage03, ["absent"], detectors, RedOrGreen()).empty
    assert held_out_headline(held_out_checks(stage01, stage03, ["absent"], detectors, RedOrGreen())) == ""
    sampled = held_out_checks(stage01, stage03, ["keep", "flip"], detectors, RedOrGreen(), max_faces=3, seed=1)
    assert (sampled["faces"] <= 3).all() and sampled.set_index("method").loc["original", "faces"] == 3
    assert sampled.set_index("method").loc["keep", "expression_faces"] == 3
    no_expression = held_out_checks(stage01, stage03, ["keep"], detectors, None)
    assert no_expression["kappa"].isna().all() and (no_expression["expression_faces"] == 0).all()


def stage01_with_subjects(folder: Path, subjects: dict[str, str] | None) -> Path:
    """A stage-01 folder with one face per photo; ``subjects`` (photo path -> subject) become its dataset manifest
    (None: a plain folder, no manifest)."""
    from ganon_utils.image_io import image_id_for

    photos = list(subjects) if subjects is not None else ["p0.jpg", "p1.jpg"]
    folder.mkdir(parents=True)
    rows = [{"face_id": f"{image_id_for(p)}_0", "image_id": image_id_for(p), "split": "all", "status": "ok",
             "face_path": "", "landmarks_path": ""} for p in photos]  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "faces.csv", index=False)
    (folder / "config.json").write_text(json.dumps({"image_size": 48}))
    if subjects is not None:
        pd.DataFrame({"image_path": photos, "subject": list(subjects.values())}).to_csv(
            folder / "dataset_manifest.csv", index=False
        )
    return folder


def test_training_overlap_names_shared_people_and_the_same_folder(tmp_path, monkeypatch) -> None:
    from ganon_utils.evaluation.held_out import training_overlap

    training = stage01_with_subjects(tmp_path / "train", {"t/a0.png": "anna", "t/a1.png": "anna", "t/b0.png": "ben"})
    disjoint = stage01_with_subjects(tmp_path / "eval", {"e/c.jpg": "cara", "e/d.jpg": "dan", "e/group.jpg": ""})
    shared = stage01_with_subjects(tmp_path / "eval2", {"e/b.jpg": "ben", "e/d.jpg": "dan"})
    unnamed = stage01_with_subjects(tmp_path / "plain", None)
    record = {"preprocess_dir": str(training), "train_split": None, "train_faces": 3}

    found = training_overlap(record, disjoint)
    assert found.training_subjects == {"anna", "ben"} and found.evaluated_subjects == {"cara", "dan"}
    assert not found.shared and not found.same_folder
    assert found.markdown() == (f"The generator was trained on 3 faces of 2 people (`{training}`); none of the 2 named "
                                "people anonymised here is among them.")  # fmt: skip
    found = training_overlap(record, shared)
    assert found.shared == {"ben"} and found.markdown().startswith("> **Warning:**") and "ben" in found.markdown()
    found = training_overlap(record, training)  # the generator anonymises its own training faces
    assert found.same_folder and "the very faces anonymised here" in found.markdown()
    assert "cannot be checked" in training_overlap(record, unnamed).markdown()
    assert "does not record its training data" in training_overlap(None, disjoint).markdown()
    monkeypatch.chdir(tmp_path)  # a folder under the working folder reads relative, without the machine's own path
    assert "(`train`)" in training_overlap(record, disjoint).markdown()
