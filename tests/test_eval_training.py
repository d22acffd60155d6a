"""Expression preservation, training scenario (Table 4, Fig. 10): labels and splits, the classifier training
(resume, early stopping, settings check, ImageNet weights), the metrics, readiness and notebook 05."""

from __future__ import annotations

import hashlib
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ganon_utils.evaluation.classifier_training import (
    ClassifierConfig,
    balanced_class_weights,
    network_input,
    run_network,
    train_classifier,
)
from ganon_utils.evaluation.classifiers import ConvNextClassifier, convnext_classifier
from ganon_utils.evaluation.training_scenario import (
    PAPER_TABLE4,
    classification_table,
    classification_vs_paper,
    confusion_table,
    dataset_labels,
    ensure_train_val,
    version_faces,
)
from ganon_utils.readiness import run_problems
from ganon_utils.weights import WEIGHT_FILES, MissingWeightError, WeightChecksumWarning, weight_path
from tests.conftest import as_named_dataset, execute_notebook, stage01_with_dataset_manifest

TINY = ClassifierConfig(architecture="convnext_tiny", pretrained=False, image_size=32, batch_size=4, epochs=2)


@pytest.fixture(scope="module")
def stage01(portraits_stage01, tmp_path_factory) -> Path:
    """Stage 01 of the demo portraits plus an adapter-style dataset_manifest.csv with two labels."""
    return stage01_with_dataset_manifest(portraits_stage01, tmp_path_factory.mktemp("labelled"),
                                         {"label": lambda i: "happy" if i % 2 else "sad"})  # fmt: skip


@pytest.fixture(scope="module")
def anonymized(portraits_baselines) -> Path:
    return portraits_baselines


@pytest.fixture(scope="module")
def labelled(stage01) -> pd.DataFrame:
    return ensure_train_val(dataset_labels(stage01), 0.3, seed=0)


def test_dataset_labels_join_the_adapter_manifest(stage01, tmp_path) -> None:
    labels = dataset_labels(stage01)
    faces = pd.read_csv(stage01 / "faces.csv", keep_default_na=False)
    assert set(labels["face_id"]) == set(faces.loc[faces["face_path"] != "", "face_id"])
    assert set(labels["label"]) == {"happy", "sad"}
    (tmp_path / "bare").mkdir()
    for name in ("faces.csv", "config.json"):
        shutil.copy2(stage01 / name, tmp_path / "bare" / name)
    with pytest.raises(FileNotFoundError, match="label_source='model'"):
        dataset_labels(tmp_path / "bare")


def test_validation_split_is_drawn_by_image_and_kept_when_present() -> None:
    labels = pd.DataFrame({"face_id": [f"f{i}" for i in range(10)], "image_id": [f"i{i // 2}" for i in range(10)],
                           "split": "all", "label": "happy"})  # fmt: skip
    drawn = ensure_train_val(labels, 0.4, seed=1)
    assert (drawn["split"] == "val").sum() == 4  # 2 of 5 images, both faces each
    assert drawn.groupby("image_id")["split"].nunique().max() == 1
    pd.testing.assert_frame_equal(drawn, ensure_train_val(labels, 0.4, seed=1))
    given = labels.assign(split=["train", "val", "test", "train", "val", "train", "train", "val", "train", "test"])
    kept = ensure_train_val(given, 0.4)
    assert set(kept["split"]) == {"train", "val"} and len(kept) == 8  # the dataset's split wins; test is left out


def test_version_faces_point_at_each_versions_files(stage01, anonymized, labelled, tmp_path) -> None:
    original = version_faces(labelled, stage01, anonymized, "original")
    assert all(Path(p).is_relative_to(stage01) and Path(p).is_file() for p in original["path"])
    copy = tmp_path / "stage03"
    shutil.copytree(anonymized / "blur9", copy / "blur9")
    manifest = pd.read_csv(copy / "blur9" / "manifest.csv", keep_default_na=False)
    manifest.loc[0, ["status", "face_path"]] = ["missing", ""]
    manifest.to_csv(copy / "blur9" / "manifest.csv", index=False)
    blurred = version_faces(labelled, stage01, copy, "blur9")
    assert len(blurred) == len(original) - 1 and manifest.loc[0, "face_id"] not in set(blurred["face_id"])
    assert all(Path(p).is_relative_to(copy / "blur9") for p in blurred["path"])


def test_metrics_tables() -> None:
    true = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "a", "a"]
    table = classification_table(true, pred, ["a", "b", "c"])
    assert table.index.tolist() == ["a", "b", "c", "accuracy", "macro avg", "weighted avg"]
    assert table.loc["a", "precision"] == pytest.approx(2 / 4) and table.loc["a", "recall"] == pytest.approx(2 / 3)
    assert table.loc["c", "f1"] == 0 and table.loc["accuracy", "f1"] == pytest.approx(3 / 6)
    assert table.loc["accuracy", "support"] == 6 and table.loc["b", "support"] == 2
    confusion = confusion_table(true, pred, ["a", "b", "c", "d"])
    assert confusion.loc["a"].tolist() == pytest.approx([2 / 3, 1 / 3, 0, 0])
    assert confusion.loc["c", "a"] == 1.0 and confusion.loc["d"].sum() == 0
    np.testing.assert_allclose(balanced_class_weights(["a", "a", "a", "b"], ["a", "b", "c"]).numpy(), [4 / 9, 4 / 3, 0.0])


def test_papers_table4_as_transcribed_is_consistent() -> None:
    for dataset, rows in PAPER_TABLE4.items():
        classes = [c for c in rows if c not in ("accuracy", "macro avg", "weighted avg")]
        total = sum(rows[c][-1] for c in classes)
        assert rows["accuracy"][-1] == rows["macro avg"][-1] == total, dataset  # supports add up
        for name in classes:
            for precision, recall, f1 in rows[name][:4]:
                expected = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
                assert abs(f1 - expected) <= 0.011, (dataset, name, precision, recall, f1)
        for i in range(4):  # the macro average is the mean of the printed per-class F1 (up to rounding)
            assert abs(rows["macro avg"][i][2] - np.mean([rows[c][i][2] for c in classes])) <= 0.01, (dataset, i)


def test_classification_is_compared_with_the_papers_table4_by_dataset_and_class_name() -> None:
    reports = {"original": classification_table(["sad", "anger"], ["sad", "anger"], ["sad", "anger"]),
               "pixel8": classification_table(["sad", "anger"], ["sad", "sad"], ["sad", "anger"])}  # fmt: skip
    versus = classification_vs_paper(reports, "CKplus").set_index("class")
    assert set(versus["version"]) == {"original"}  # pixelation is not among the paper's versions
    assert versus.loc["sad", ["f1", "paper_f1", "paper_support"]].tolist() == [1.0, 1.0, 3]  # "sad" = CK+'s sadness
    assert versus.loc["accuracy", "paper_f1"] == 0.99 and np.isnan(versus.loc["accuracy", "paper_precision"])
    assert versus.loc["macro avg", "paper_recall"] == 0.99
    assert classification_vs_paper(reports, "demo").empty


def test_training_resumes_to_the_same_weights_and_checks_its_settings(stage01, labelled, tmp_path) -> None:
    faces = version_faces(labelled, stage01, stage01, "original")
    train, val = faces[faces["split"] == "train"], faces[faces["split"] == "val"]
    classes = ["happy", "sad"]
    three = ClassifierConfig(**{**TINY.__dict__, "epochs": 3})
    full = train_classifier(train, val, classes, tmp_path / "full", three, device="cpu")
    assert full.epochs_run == 3 and full.log["epoch"].tolist() == [1, 2, 3]
    part = train_classifier(train, val, classes, tmp_path / "part", TINY, device="cpu")
    assert part.epochs_run == 2
    with pytest.raises(
        ValueError, match=r"other settings \(config.lr: 0.0003 -> 0.001\)"
    ):  # another learning rate would mix two runs
        train_classifier(train, val, classes, tmp_path / "part", ClassifierConfig(**{**three.__dict__, "lr": 1e-3}), device="cpu")
    # More epochs continue the run; DataLoader workers (persistent across epochs) read the same batches.
    resumed = train_classifier(train, val, classes, tmp_path / "part", replace(three, num_workers=2), device="cpu")
    assert resumed.epochs_run == 1
    a = torch.load(full.last, weights_only=True)["state_dict"]
    b = torch.load(resumed.last, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    pd.testing.assert_frame_equal(full.log, resumed.log)
    model = ConvNextClassifier(full.best, device="cpu")
    assert model.classes == tuple(classes) and "convnext_tiny" in model.description
    assert train_classifier(train, val, classes, tmp_path / "full", three, device="cpu").epochs_run == 0  # finished


def test_last_pt_is_written_every_checkpoint_every_epochs_and_after_the_last(stage01, labelled, tmp_path) -> None:
    faces = version_faces(labelled, stage01, stage01, "original")
    train, val = faces[faces["split"] == "train"], faces[faces["split"] == "val"]
    three = replace(TINY, epochs=3, checkpoint_every=2)

    def stop_after_epoch_3(message: str) -> None:
        if message.startswith("epoch 3:"):
            raise KeyboardInterrupt

    # epoch 3 is the run's last, so its checkpoint is written before the interruption reaches the caller; one
    # interrupted with checkpoint_every 2 at epoch 3 of 5 resumes from epoch 2
    with pytest.raises(KeyboardInterrupt):
        train_classifier(train, val, ["happy", "sad"], tmp_path / "run", replace(three, epochs=5), device="cpu",
                         progress=stop_after_epoch_3)  # fmt: skip
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["progress"]["epoch"] == 2
    resumed = train_classifier(train, val, ["happy", "sad"], tmp_path / "run", three, device="cpu")
    assert resumed.epochs_run == 1 and resumed.log["epoch"].tolist() == [1, 2, 3]
    assert torch.load(resumed.last, weights_only=True)["progress"]["epoch"] == 3  # the last epoch, not a multiple of 2
    at_end = train_classifier(train, val, ["happy", "sad"], tmp_path / "end", replace(three, checkpoint_every=None), device="cpu")
    a = torch.load(resumed.last, weights_only=True)["state_dict"]
    b = torch.load(at_end.last, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # when the checkpoint is written does not change the training
    with pytest.raises(ValueError, match="checkpoint_every"):
        replace(TINY, checkpoint_every=0)


def test_early_stopping_ends_a_run_without_progress(stage01, labelled, tmp_path) -> None:
    faces = version_faces(labelled, stage01, stage01, "original")
    frozen = ClassifierConfig(**{**TINY.__dict__, "epochs": 6, "lr": 0.0, "early_stopping_patience": 2})
    run = train_classifier(faces[faces["split"] == "train"], faces[faces["split"] == "val"], ["happy", "sad"],
                           tmp_path / "frozen", frozen, device="cpu")  # fmt: skip
    assert run.epochs_run == 3  # epoch 1 sets the best loss, epochs 2-3 do not beat it


def test_precision_sets_the_arithmetic_of_the_classifier_runs(stage01, labelled, tmp_path) -> None:
    with pytest.raises(ValueError, match="precision"):
        ClassifierConfig(precision="fp16")
    model = convnext_classifier(2, "convnext_tiny").eval()
    seen: list[torch.dtype] = []
    model.features[0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    for precision in ("bf16", "fp32"):
        batch = network_input(images, torch.nn.Identity(), torch.device("cpu"), precision)
        assert batch.is_contiguous(memory_format=torch.channels_last) == (precision == "bf16")
        assert run_network(model, batch, precision).dtype == torch.float32  # logits always float32
    assert seen == [torch.bfloat16, torch.float32]
    faces = version_faces(labelled, stage01, stage01, "original")
    train, val = faces[faces["split"] == "train"], faces[faces["split"] == "val"]
    runs = {p: train_classifier(train, val, ["happy", "sad"], tmp_path / p, ClassifierConfig(**{**TINY.__dict__, "epochs": 1, "precision": p}),
                                device="cpu") for p in ("bf16", "fp32")}  # fmt: skip
    a, b = (torch.load(runs[p].last, weights_only=True)["state_dict"] for p in ("bf16", "fp32"))
    assert all(v.dtype == torch.float32 for v in a.values())  # weights stay float32 under autocast
    assert not all(torch.equal(a[k], b[k]) for k in a)  # same seed and data: only the arithmetic differs
    assert abs(runs["bf16"].log["train_loss"][0] - runs["fp32"].log["train_loss"][0]) < 0.1


def test_imagenet_weights_are_read_from_torchvisions_cache_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightError, match="convnext_tiny-983f1562.pth"):
        convnext_classifier(3, "convnext_tiny", pretrained=True)
    import torchvision.models

    torch.manual_seed(1)
    imagenet = torchvision.models.convnext_tiny(weights=None).state_dict()
    path = weight_path("convnext_tiny_imagenet")
    path.parent.mkdir(parents=True)
    torch.save(imagenet, path)
    with pytest.warns(WeightChecksumWarning, match="SHA-256 starts with [0-9a-f]{8}, the published one with 983f1562"):
        model = convnext_classifier(3, "convnext_tiny", pretrained=True)  # random weights: not torchvision's file
    assert torch.equal(model.features[0][0].weight, imagenet["features.0.0.weight"])
    assert model.classifier[-1].out_features == 3
    published = replace(WEIGHT_FILES["convnext_tiny_imagenet"], sha256_prefix=hashlib.sha256(path.read_bytes()).hexdigest()[:8])
    monkeypatch.setitem(WEIGHT_FILES, "convnext_tiny_imagenet", published)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file with the published checksum passes silently
        convnext_classifier(3, "convnext_tiny", pretrained=True)


def test_readiness_knows_the_training_scenarios_inputs_and_outputs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "processed" / "ckplus").mkdir(parents=True)
    training = {"datasets": ["ckplus"], "preprocess_root": str(tmp_path / "processed"),
                "anonymized_root": str(tmp_path / "anon"), "versions": ["original", "ganonymization"],
                "models_root": str(tmp_path / "models"), "architecture": "convnext_base", "pretrained": True}  # fmt: skip
    inference = {"datasets": ["ckplus"], "preprocess_root": str(tmp_path / "processed"),
                 "anonymized_root": str(tmp_path / "anon"), "methods": [], "classifier": "convnext",
                 "classifier_checkpoint": str(tmp_path / "models" / "{dataset}" / "original" / "best.pt")}  # fmt: skip
    problems = run_problems([(Path("05_eval_emotion_training.ipynb"), training),
                             (Path("06_eval_emotion_inference.ipynb"), inference)], tmp_path)  # fmt: skip
    assert any("convnext_base-6075fbad.pth" in p for p in problems)
    assert any(str(tmp_path / "anon" / "ckplus" / "ganonymization" / "manifest.csv") in p for p in problems)
    assert not any("best.pt" in p for p in problems)  # notebook 05 of the same run makes the classifier
    alone = run_problems([(Path("06_eval_emotion_inference.ipynb"), inference)], tmp_path)
    assert any(str(tmp_path / "models" / "ckplus" / "original" / "best.pt") in p for p in alone)


@pytest.mark.slow
def test_notebook_05_runs_with_papermill(stage01, anonymized, tmp_path) -> None:

    # The labelled faces appear as dataset "faces", so the paper's accuracy is shown beside ours.
    preprocess_root, anonymized_root = as_named_dataset("faces", stage01, anonymized, {"blur9": "blur9"}, tmp_path / "data")
    results = tmp_path / "results"
    parameters = {"datasets": ["faces"], "preprocess_root": str(preprocess_root),
                  "anonymized_root": str(anonymized_root), "versions": ["original", "blur9"],
                  "label_source": "dataset", "models_root": str(tmp_path / "models"), "image_size": 32, "epochs": 1,
                  "results_dir": str(results)}  # fmt: skip
    execute_notebook("05_eval_emotion_training", str(tmp_path / "05.ipynb"), parameters)
    table4 = pd.read_csv(results / "tables" / "table4_f1_faces.csv")
    assert table4["class"].tolist() == ["happy", "sad", "accuracy", "macro avg", "weighted avg"]
    assert {"Original", "Blur 9x9 kernel"} <= set(table4.columns)
    versus = pd.read_csv(results / "tables" / "table4_vs_paper_faces.csv").set_index("class")
    assert set(versus["version"]) == {"original"}  # blur9 is not among the paper's versions
    assert versus.loc["accuracy", "paper_f1"] == 0.97 and versus.loc["sad", "paper_f1"] == 0.94  # FACES "sadness"
    assert versus.loc["accuracy", "f1"] == pytest.approx(table4.set_index("class").loc["accuracy", "Original"])
    assert (tmp_path / "models" / "faces" / "original" / "best.pt").is_file()
    assert (results / "figures" / "fig10_confusion_faces.png").is_file()
    assert "Not the paper" in (tmp_path / "05.ipynb").read_text()


def test_attribute_weights_are_the_authors_balanced_weights_averaged() -> None:
    from sklearn.utils import compute_class_weight

    from ganon_utils.evaluation.classifier_training import attribute_weights

    rng = np.random.default_rng(0)
    targets = (rng.random((50, 4)) < [0.5, 0.1, 0.9, 0.3]).astype(np.float32)
    expected = [compute_class_weight("balanced", classes=np.array([0.0, 1.0]), y=targets[:, a]).mean() for a in range(4)]
    np.testing.assert_allclose(attribute_weights(targets).numpy(), expected, rtol=1e-6)
    assert attribute_weights(targets)[1] > attribute_weights(targets)[0]  # a rarer attribute weighs more
    np.testing.assert_allclose(attribute_weights(np.ones((4, 1))).numpy(), [0.25])  # no negatives: (0 + n / (2 n_1)) / 2


def test_attribute_weighted_bce_scales_each_attributes_term() -> None:
    from ganon_utils.evaluation.classifier_training import AttributeWeightedBCE

    logits, targets = torch.randn(6, 3), (torch.rand(6, 3) > 0.5).float()
    weights = torch.tensor([1.0, 2.0, 0.5])
    terms = -(targets * torch.log(torch.sigmoid(logits)) + (1 - targets) * torch.log(1 - torch.sigmoid(logits)))
    assert float(AttributeWeightedBCE(weights)(logits, targets)) == pytest.approx(float((terms * weights).mean()), rel=1e-5)
    assert float(AttributeWeightedBCE(torch.ones(3))(logits, targets)) == pytest.approx(
        float(torch.nn.BCEWithLogitsLoss()(logits, targets)), rel=1e-6
    )


def test_multi_label_training_with_attribute_weights_is_its_own_run(tmp_path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    rows = []
    for i in range(8):
        path = tmp_path / "faces" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        rows.append({"path": str(path), "smiling": float(i % 2), "eyeglasses": float(i == 3)})
    table = pd.DataFrame(rows)
    classes = ["smiling", "eyeglasses"]
    config = replace(TINY, epochs=1, multi_label=True, class_weights=False)
    plain = train_classifier(table, table, classes, tmp_path / "plain", config, device="cpu")
    weighted = train_classifier(
        table, table, classes, tmp_path / "weighted", replace(config, attribute_weights=True), device="cpu"
    )
    assert weighted.log["train_loss"].iloc[0] != pytest.approx(plain.log["train_loss"].iloc[0])  # the rare attribute weighs in
    assert "attribute_weights" not in (tmp_path / "plain" / "config.json").read_text()  # as runs from before the option
    with pytest.raises(ValueError, match="attribute_weights"):
        train_classifier(table, table, classes, tmp_path / "plain", replace(config, attribute_weights=True), device="cpu")


def test_auto_precision_takes_bf16_only_where_the_device_has_it(monkeypatch) -> None:
    from ganon_utils import devices

    cpu = torch.device("cpu")
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda native=native: native)
        assert devices.resolve_precision("auto", cpu) == expected
        assert devices.resolve_precision("fp32", cpu) == "fp32" and devices.resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ValueError, match="precision"):
        devices.resolve_precision("fp16", cpu)
    assert ClassifierConfig().precision == "auto"


def test_a_classifier_run_records_the_precision_auto_chose(stage01, labelled, tmp_path, monkeypatch) -> None:
    import json

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    faces = version_faces(labelled, stage01, stage01, "original")
    train, val = faces[faces["split"] == "train"], faces[faces["split"] == "val"]
    config = ClassifierConfig(**{**TINY.__dict__, "epochs": 1, "precision": "auto"})
    train_classifier(train, val, ["happy", "sad"], tmp_path / "auto", config, device="cpu")
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["config"]["precision"] == "fp32"
    # the folder is the fp32 one: an explicit fp32 call resumes it, a bf16 call is refused
    train_classifier(
        train,
        val,
        ["happy", "sad"],
        tmp_path / "auto",
        ClassifierConfig(**{**config.__dict__, "precision": "fp32"}),
        device="cpu",
    )
    with pytest.raises(ValueError, match="precision"):
        train_classifier(
            train,
            val,
            ["happy", "sad"],
            tmp_path / "auto",
            ClassifierConfig(**{**config.__dict__, "precision": "bf16"}),
            device="cpu",
        )
