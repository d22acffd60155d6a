"""Dataset adapters read each dataset's original layout into the same manifest shape."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganon_utils.datasets import (
    AFFECTNET_EMOTIONS,
    CKPLUS_EMOTIONS,
    DATASETS,
    FACES_EMOTIONS,
    MANIFEST_COLUMNS,
    affectnet,
    check_dataset,
    ckplus,
    dataset_spec,
    load_dataset,
    read_manifest,
    wider_face,
    write_manifest,
)
from ganon_utils.datasets import (
    CELEBA_ATTRIBUTES as ADAPTER_CELEBA_ATTRIBUTES,
)
from ganon_utils.datasets.manifest import build_manifest, manifest_problems
from ganon_utils.datasets.splits import n_validation, split_by_item, split_by_subject
from tests.dataset_fixtures import (
    CELEBA_ATTRIBUTES,
    make_affectnet_csv,
    make_affectnet_npy,
    make_celeba,
    make_ckplus,
    make_class_folders,
    make_faces,
    make_wider,
    tree_state,
    write_image,
)


def assert_manifest_shape(df: pd.DataFrame, dataset: str) -> None:
    assert tuple(df.columns[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS
    assert (df["dataset"] == dataset).all()
    assert df["image_path"].is_unique
    assert df["image_path"].tolist() == sorted(df["image_path"])
    assert df["label_index"].dtype == np.int64
    assert manifest_problems(df) == []


def by_path(df: pd.DataFrame, column: str) -> dict[str, object]:
    return dict(zip(df["image_path"], df[column]))


# ------------------------------------------------------------------------------------ registry
def test_registry_has_the_papers_datasets_and_fixed_class_orders() -> None:
    assert set(DATASETS) == {"celeba", "wider_face", "affectnet", "ckplus", "faces", "generic"}
    assert AFFECTNET_EMOTIONS == ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
    assert CKPLUS_EMOTIONS == ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
    assert FACES_EMOTIONS == ("neutral", "happy", "sad", "fear", "disgust", "anger")
    assert ADAPTER_CELEBA_ATTRIBUTES == tuple(CELEBA_ATTRIBUTES)
    assert dataset_spec("CK+").name == "ckplus"
    assert dataset_spec(" WIDERFace ").name == "wider_face"
    with pytest.raises(KeyError, match="unknown dataset"):
        dataset_spec("mnist")


def test_unknown_adapter_option_is_an_error(tmp_path: Path) -> None:
    make_faces(tmp_path, n_subjects=3)
    with pytest.raises(TypeError, match="val_fractoin"):
        load_dataset("faces", tmp_path, val_fractoin=0.3)


# -------------------------------------------------------------------------------------- CelebA
@pytest.mark.parametrize("layout", ["flat", "drive"])
def test_celeba_partition_codes_attributes_and_identities(tmp_path: Path, layout: str) -> None:
    fx = make_celeba(tmp_path, layout=layout)
    before = tree_state(tmp_path)
    df = load_dataset("celeba", tmp_path)
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "celeba")
    assert list(df.columns[len(MANIFEST_COLUMNS) :]) == CELEBA_ATTRIBUTES
    expected_paths = [f"{fx.image_dir}/{name}" for name in fx.splits]
    assert df["image_path"].tolist() == expected_paths
    assert by_path(df, "split") == {f"{fx.image_dir}/{n}": s for n, s in fx.splits.items()}
    assert by_path(df, "subject") == {f"{fx.image_dir}/{n}": s for n, s in fx.identities.items()}
    for name, values in fx.attributes.items():
        row = df.loc[df["image_path"] == f"{fx.image_dir}/{name}", CELEBA_ATTRIBUTES].iloc[0]
        assert row.tolist() == [(v + 1) // 2 for v in values]
    assert df[CELEBA_ATTRIBUTES].isin([0, 1]).all().all()
    assert df.iloc[0][CELEBA_ATTRIBUTES].sum() == 40 and df.iloc[1][CELEBA_ATTRIBUTES].sum() == 0
    assert (df["label"] == "").all() and (df["label_index"] == -1).all()


def test_celeba_missing_images_are_dropped_and_listed(tmp_path: Path) -> None:
    fx = make_celeba(tmp_path, with_identity=False, missing=2)
    df = load_dataset("celeba", tmp_path)
    assert len(df) == 5
    assert df.attrs["missing"] == fx.missing
    assert (df["subject"] == "").all()


def test_celeba_random_split_and_split_filter(tmp_path: Path) -> None:
    make_celeba(tmp_path)
    official = load_dataset("celeba", tmp_path, splits=["train", "val"])
    assert set(official["split"]) == {"train", "val"} and len(official) == 5
    shuffled = load_dataset("celeba", tmp_path, split_rule="random", val_fraction=0.3, seed=1)
    assert set(shuffled["split"]) == {"train", "val"}
    assert (shuffled["split"] == "val").sum() == n_validation(7, 0.3) == 2


def test_celeba_rejects_malformed_attribute_file(tmp_path: Path) -> None:
    make_celeba(tmp_path)
    attr = tmp_path / "list_attr_celeba.txt"
    original = attr.read_text()
    lines = original.splitlines()
    attr.write_text(original.replace(" 1", " 0", 1))  # a value outside -1/1
    with pytest.raises(ValueError, match="-1 or 1"):
        load_dataset("celeba", tmp_path)
    attr.write_text("\n".join(lines[:4] + [lines[4].rsplit(" ", 1)[0]] + lines[5:]) + "\n")  # 39 values
    with pytest.raises(ValueError, match="-1 or 1"):
        load_dataset("celeba", tmp_path)
    attr.write_text("\n".join(["8"] + lines[1:]) + "\n")  # count line disagrees
    with pytest.raises(ValueError, match="declares 8 images but 7"):
        load_dataset("celeba", tmp_path)
    attr.write_text("\n".join(lines[:1] + [lines[1].replace("Bald", "Bold")] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match="40 CelebA attributes"):
        load_dataset("celeba", tmp_path)


# ---------------------------------------------------------------------------------- WIDER FACE
def test_wider_face_counts_zero_face_quirk_and_unannotated(tmp_path: Path) -> None:
    fx = make_wider(tmp_path)
    before = tree_state(tmp_path)
    df = load_dataset("wider_face", tmp_path)
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "wider_face")
    assert by_path(df, "n_faces_annotated") == fx.faces
    assert by_path(df, "n_faces_valid") == fx.valid
    assert df.attrs["missing"] == fx.missing
    assert df.attrs["unannotated"] == fx.unannotated
    assert by_path(df, "split")["WIDER_val/images/7--Cheering/7_Cheering_Cheering_7_16.jpg"] == "val"
    assert by_path(df, "event")["WIDER_train/images/0--Parade/0_Parade_Parade_0_452.jpg"] == "0--Parade"
    assert set(df["split"]) == {"train", "val", "test"}
    assert len(load_dataset("wider_face", tmp_path, splits=["train", "val"])) == len(df) - 1


def test_wider_parser_handles_zero_faces_and_rejects_short_blocks() -> None:
    text = "a/x.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \na/y.jpg\n2\n1 2 3 4 0 0 0 0 0 0 \n5 6 7 8 2 0 1 1 0 1 \n"
    parsed = wider_face.parse_bbx_gt(text)
    assert [(p.name, p.n_faces, p.n_valid) for p in parsed] == [("a/x.jpg", 0, 0), ("a/y.jpg", 2, 1)]
    with pytest.raises(ValueError, match="declares 3 faces"):
        wider_face.parse_bbx_gt("a/y.jpg\n3\n1 2 3 4 0 0 0 0 0 0\nb/z.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n")


# ----------------------------------------------------------------------------------- AffectNet
@pytest.mark.parametrize("header", ["plain", "hash", "none"])
def test_affectnet_csv_labels_and_excluded_codes(tmp_path: Path, header: str) -> None:
    fx = make_affectnet_csv(tmp_path, header=header)
    before = tree_state(tmp_path)
    df = load_dataset("affectnet", tmp_path)
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "affectnet")
    assert df.attrs["layout"] == "csv"
    assert by_path(df, "label") == fx.labels
    assert by_path(df, "split") == fx.splits
    assert df.attrs["excluded"] == fx.excluded == {"none": 2, "uncertain": 2, "no_face": 2}
    assert df.attrs["missing"] == fx.missing
    assert all(AFFECTNET_EMOTIONS[i] == label for i, label in zip(df["label_index"], df["label"]))


def test_affectnet_npy_labels_and_excluded_codes(tmp_path: Path) -> None:
    fx = make_affectnet_npy(tmp_path)
    before = tree_state(tmp_path)
    df = load_dataset("affectnet", tmp_path)
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "affectnet")
    assert df.attrs["layout"] == "npy"
    assert by_path(df, "label") == fx.labels
    assert by_path(df, "split") == fx.splits
    assert df.attrs["excluded"] == fx.excluded == {"none": 1, "uncertain": 1, "no_face": 2}
    assert set(df["label"]) == set(AFFECTNET_EMOTIONS)


def test_affectnet_code_mapping_each_code() -> None:
    expected = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt", None, None, None]
    assert [affectnet.code_to_label(code) for code in range(11)] == expected
    with pytest.raises(ValueError):
        affectnet.code_to_label(11)


def test_affectnet_prefers_csv_when_both_layouts_present(tmp_path: Path) -> None:
    csv_fx = make_affectnet_csv(tmp_path)
    npy_fx = make_affectnet_npy(tmp_path)
    assert by_path(load_dataset("affectnet", tmp_path), "label") == csv_fx.labels
    assert by_path(load_dataset("affectnet", tmp_path, layout="npy"), "label") == npy_fx.labels


# ----------------------------------------------------------------------------------------- CK+
def test_ckplus_peak_frames_labels_and_subject_split(tmp_path: Path) -> None:
    fx = make_ckplus(tmp_path)
    before = tree_state(tmp_path)
    df = load_dataset("ckplus", tmp_path)
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "ckplus")
    assert by_path(df, "label") == fx.labels  # only labelled peak frames, neutral left out
    assert by_path(df, "subject") == fx.subjects
    assert df.attrs["excluded"] == {"neutral": fx.n_neutral} == {"neutral": 1}
    assert not set(fx.unlabelled_frames) & set(df["image_path"])
    assert set(df["label"]) == set(CKPLUS_EMOTIONS)
    assert all(CKPLUS_EMOTIONS[i] == label for i, label in zip(df["label_index"], df["label"]))
    train = set(df.loc[df["split"] == "train", "subject"])
    val = set(df.loc[df["split"] == "val", "subject"])
    assert not train & val
    assert len(val) == n_validation(len(train | val), 0.2) == 4  # 20 subjects -> 4


def test_ckplus_pandas_sample_split_is_the_authors(tmp_path: Path) -> None:
    """split="pandas_sample" picks the validation subjects as the authors' CK+ extractor: a one-hot row per image with
    a label file (neutral ones all-zero), grouped by subject, summed, ``sample(frac=0.2, random_state=42)``."""
    make_ckplus(tmp_path, n_subjects=31)
    only_neutral = tmp_path / "cohn-kanade-images" / "S200" / "001"  # a subject whose one label is neutral
    only_neutral.mkdir(parents=True)
    Image.new("L", (8, 8)).save(only_neutral / "S200_001_00000001.png")
    (tmp_path / "Emotion" / "S200" / "001").mkdir(parents=True)
    (tmp_path / "Emotion" / "S200" / "001" / "S200_001_00000001_emotion.txt").write_text("   0.0000000e+00\n")

    rows = []  # the authors' table, built here from the files
    for image in sorted((tmp_path / "cohn-kanade-images").rglob("*.png")):
        subject, sequence = image.parts[-3], image.parts[-2]
        label_file = tmp_path / "Emotion" / subject / sequence / f"{image.stem}_emotion.txt"
        if label_file.is_file():
            code = int(float(label_file.read_text().strip()))
            rows.append({"subject_id": subject, **{name: int(i == code - 1) for i, name in enumerate(CKPLUS_EMOTIONS)}})
    authors = pd.DataFrame(rows)
    expected_val = set(authors.groupby(["subject_id"])[list(CKPLUS_EMOTIONS)].sum().sample(frac=0.2, random_state=42).index)

    df = load_dataset("ckplus", tmp_path, val_fraction=0.2, seed=42, split="pandas_sample")
    assert set(df.loc[df["split"] == "val", "subject"]) == expected_val - {"S200"}
    assert len(expected_val) == round(0.2 * 32)  # the neutral-only subject counts in the draw
    hashed = load_dataset("ckplus", tmp_path, val_fraction=0.2, seed=42)
    assert set(hashed.loc[hashed["split"] == "val", "subject"]) != set(df.loc[df["split"] == "val", "subject"])
    with pytest.raises(ValueError, match="split rule"):
        load_dataset("ckplus", tmp_path, split="random")


def test_ckplus_code_mapping_and_file_format(tmp_path: Path) -> None:
    expected = [None, "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    assert [ckplus.code_to_label(code) for code in range(8)] == expected
    label = tmp_path / "S005_001_00000011_emotion.txt"
    label.write_text("   3.0000000e+00\n")
    assert ckplus.read_emotion_code(label) == 3
    label.write_text("   2.5000000e+00\n")
    with pytest.raises(ValueError, match="integral"):
        ckplus.read_emotion_code(label)


def test_ckplus_split_is_deterministic_and_depends_on_seed(tmp_path: Path) -> None:
    make_ckplus(tmp_path)
    first = load_dataset("ckplus", tmp_path, seed=0)
    again = load_dataset("ckplus", tmp_path, seed=0)
    pd.testing.assert_frame_equal(first, again)
    val_sets = {frozenset(load_dataset("ckplus", tmp_path, seed=seed).query("split == 'val'")["subject"]) for seed in range(5)}
    assert len(val_sets) > 1


# --------------------------------------------------------------------------------------- FACES
def test_faces_file_names_labels_and_subject_split(tmp_path: Path) -> None:
    fx = make_faces(tmp_path)
    before = tree_state(tmp_path)
    df = load_dataset("faces", tmp_path)
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "faces")
    assert by_path(df, "label") == fx.labels
    assert by_path(df, "subject") == fx.subjects
    assert df.attrs["skipped"] == fx.skipped
    row = df.loc[df["image_path"] == "bilder/004_y_m_a_b.jpg"].iloc[0]
    assert (row["label"], row["age_group"], row["gender"], row["picture_set"]) == ("anger", "young", "male", "b")
    assert all(FACES_EMOTIONS[i] == label for i, label in zip(df["label_index"], df["label"]))
    train = set(df.loc[df["split"] == "train", "subject"])
    val = set(df.loc[df["split"] == "val", "subject"])
    assert not train & val and len(val) == 3  # 15 subjects * 0.2
    assert (df.groupby("subject").size() == 12).all()
    assert len(set(load_dataset("faces", tmp_path, val_fraction=0.4)["subject"].where(lambda s: s != ""))) == 15


def test_faces_each_emotion_letter(tmp_path: Path) -> None:
    letters = {"n": "neutral", "h": "happy", "s": "sad", "f": "fear", "d": "disgust", "a": "anger"}
    for letter in letters:
        write_image(tmp_path / f"012_m_f_{letter}_a.jpg")
    df = load_dataset("faces", tmp_path, val_fraction=0.0)
    assert dict(zip(df["image_path"], df["label"])) == {f"012_m_f_{k}_a.jpg": v for k, v in letters.items()}
    assert (df["split"] == "train").all()


# ------------------------------------------------------------------------------------- generic
def test_generic_class_folders_random_split(tmp_path: Path) -> None:
    expected = make_class_folders(tmp_path)
    before = tree_state(tmp_path)
    df = load_dataset("generic", tmp_path, seed=3)
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "generic")
    assert by_path(df, "label") == {p: label for p, (_, label) in expected.items()}
    assert df.attrs["classes"] == ["happy", "neutral", "sad"]
    assert df.attrs["skipped"] == ["loose_image.jpg"]
    assert dict(zip(df["label"], df["label_index"])) == {"happy": 0, "neutral": 1, "sad": 2}
    per_class_val = df[df["split"] == "val"].groupby("label").size().to_dict()
    assert per_class_val == {"happy": 1, "neutral": 1, "sad": 1}  # round(0.2 * 6|5|4) each


def test_generic_split_folders_and_class_order(tmp_path: Path) -> None:
    expected = make_class_folders(tmp_path, with_splits=True)
    df = load_dataset("generic", tmp_path, classes=["Sad", "Happy", "Neutral"])
    assert {p: (s, lab) for p, s, lab in zip(df["image_path"], df["split"], df["label"])} == expected
    assert dict(zip(df["label"], df["label_index"])) == {"sad": 0, "happy": 1, "neutral": 2}
    assert df.attrs["skipped"] == ["loose_image.jpg"]
    with pytest.raises(ValueError, match="not in classes"):
        load_dataset("generic", tmp_path, classes=["sad", "happy"])


def test_generic_csv_mode(tmp_path: Path) -> None:
    for i in range(6):
        write_image(tmp_path / "imgs" / f"{i}.jpg", seed=i)
    pd.DataFrame(
        {
            "file": [f"imgs\\{i}.jpg" for i in range(5)] + ["imgs/absent.jpg"],
            "emotion": ["Happy", "sad", "happy", "SAD", "neutral", "sad"],
            "part": ["train", "validation", "0", "1", "test", "train"],
            "person": ["p1", "p2", "p1", "p3", "p4", "p5"],
            "Smiling": ["1", "-1", "1", "-1", "-1", "1"],
        }
    ).to_csv(tmp_path / "labels.csv", index=False)
    before = tree_state(tmp_path)
    df = load_dataset(
        "generic",
        tmp_path,
        csv="labels.csv",
        path_column="file",
        label_column="emotion",
        split_column="part",
        subject_column="person",
        attribute_columns=["Smiling"],
        dataset_name="mydata",
    )
    assert tree_state(tmp_path) == before
    assert_manifest_shape(df, "mydata")
    assert df["image_path"].tolist() == [f"imgs/{i}.jpg" for i in range(5)]
    assert df["label"].tolist() == ["happy", "sad", "happy", "sad", "neutral"]
    assert df["split"].tolist() == ["train", "val", "train", "val", "test"]
    assert df["subject"].tolist() == ["p1", "p2", "p1", "p3", "p4"]
    assert df["Smiling"].tolist() == [1, 0, 1, 0, 0]
    assert df.attrs["missing"] == ["imgs/absent.jpg"]
    by_subject = load_dataset("generic", tmp_path, csv="labels.csv", path_column="file", label_column="emotion",
                              subject_column="person", val_fraction=0.5)  # fmt: skip
    assert not set(by_subject.query("split == 'train'")["subject"]) & set(by_subject.query("split == 'val'")["subject"])
    with pytest.raises(ValueError, match="missing column"):
        load_dataset("generic", tmp_path, csv="labels.csv", path_column="path")


# ------------------------------------------------------------------------------- split rules
def test_subject_split_never_shares_subjects_and_ignores_input_order() -> None:
    subjects = [f"s{i:03d}" for i in range(50) for _ in range(3)]
    splits = split_by_subject(subjects, 0.2, seed=11)
    mapping = dict(zip(subjects, splits))
    assert all(mapping[s] == split for s, split in zip(subjects, splits))  # one split per subject
    assert sum(v == "val" for v in mapping.values()) == 10
    shuffled = subjects[:]
    random.Random(0).shuffle(shuffled)
    assert dict(zip(shuffled, split_by_subject(shuffled, 0.2, seed=11))) == mapping
    assert dict(zip(subjects, split_by_subject(subjects, 0.2, seed=12))) != mapping
    with pytest.raises(ValueError):
        split_by_subject(["a", ""], 0.2)


def test_validation_counts_round_and_keep_both_sides() -> None:
    assert [n_validation(n, 0.2) for n in (0, 1, 2, 5, 118, 123, 171)] == [0, 0, 1, 1, 24, 25, 34]
    assert n_validation(10, 0.0) == 0 and n_validation(10, 1.0) == 10
    with pytest.raises(ValueError):
        n_validation(10, 1.5)
    items = [f"x{i}" for i in range(20)]
    assert split_by_item(items, 0.25, seed=0).count("val") == 5


# ------------------------------------------------------------------------------ check_dataset
@pytest.mark.parametrize("name", ["celeba", "wider_face", "affectnet", "ckplus", "faces", "generic"])
def test_check_dataset_names_the_missing_root(tmp_path: Path, name: str) -> None:
    problems = check_dataset(name, tmp_path / "absent")
    assert problems == [f"dataset root not found: {tmp_path / 'absent'}"]


def test_check_dataset_names_each_missing_part_by_path(tmp_path: Path) -> None:
    assert check_dataset("celeba", tmp_path) == [
        f"missing CelebA aligned images: expected folder {tmp_path / 'img_align_celeba'} "
        f"(or {tmp_path / 'Img/img_align_celeba'}, {tmp_path / 'img_align_celeba/img_align_celeba'})",
        f"missing CelebA split file: expected {tmp_path / 'list_eval_partition.txt'} "
        f"(or {tmp_path / 'Eval/list_eval_partition.txt'})",
        f"missing CelebA attribute file: expected {tmp_path / 'list_attr_celeba.txt'} "
        f"(or {tmp_path / 'Anno/list_attr_celeba.txt'})",
    ]
    wider = check_dataset("wider_face", tmp_path)
    assert len(wider) == 4 and str(tmp_path / "wider_face_split/wider_face_val_bbx_gt.txt") in wider[3]
    ck = check_dataset("ckplus", tmp_path)
    assert [str(tmp_path / "cohn-kanade-images") in ck[0], str(tmp_path / "Emotion") in ck[1]] == [True, True]
    affect = check_dataset("affectnet", tmp_path)
    assert len(affect) == 1 and "training.csv" in affect[0] and "train_set" in affect[0]
    assert "004_o_m_a_a.jpg" in check_dataset("faces", tmp_path)[0]
    assert check_dataset("generic", tmp_path, csv="labels.csv") == [f"missing label CSV: expected {tmp_path / 'labels.csv'}"]
    assert check_dataset("no_such_dataset", tmp_path)[0].startswith("unknown dataset")


def test_check_dataset_passes_complete_trees_and_flags_partial_ones(tmp_path: Path) -> None:
    make_celeba(tmp_path / "celeba")
    make_wider(tmp_path / "wider")
    make_ckplus(tmp_path / "ck", n_subjects=3)
    make_faces(tmp_path / "faces", n_subjects=2)
    make_affectnet_npy(tmp_path / "affect")
    for name, folder in [("celeba", "celeba"), ("wider_face", "wider"), ("ckplus", "ck"), ("faces", "faces"),
                         ("affectnet", "affect")]:  # fmt: skip
        assert check_dataset(name, tmp_path / folder) == [], name
    (tmp_path / "celeba" / "list_attr_celeba.txt").unlink()
    assert check_dataset("celeba", tmp_path / "celeba") == [
        f"missing CelebA attribute file: expected {tmp_path / 'celeba/list_attr_celeba.txt'} "
        f"(or {tmp_path / 'celeba/Anno/list_attr_celeba.txt'})"
    ]
    for path in (tmp_path / "affect" / "val_set" / "annotations").iterdir():
        path.unlink()
    problems = check_dataset("affectnet", tmp_path / "affect", layout="npy")
    folder = tmp_path / "affect/val_set/annotations"
    assert problems == [f"empty AffectNet val annotations: folder {folder} has no files"]
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt"):
        load_dataset("celeba", tmp_path / "celeba")


# ------------------------------------------------------------------------------ manifest files
def test_write_manifest_round_trip_is_atomic_and_keeps_ids_as_text(tmp_path: Path) -> None:
    make_faces(tmp_path / "faces", n_subjects=3)
    df = load_dataset("faces", tmp_path / "faces")
    out = tmp_path / "out" / "manifest.csv"
    assert write_manifest(df, out) == out
    back = read_manifest(out)
    pd.testing.assert_frame_equal(back, df)
    assert back["subject"].iloc[0] == "004"
    assert back.attrs["skipped"] == ["bilder/FACES_logo.jpg"] and back.attrs["seed"] == 0
    assert sorted(os.listdir(out.parent)) == ["manifest.attrs.json", "manifest.csv"]  # no temp files left


def test_write_manifest_refuses_invalid_manifest_and_leaves_old_file(tmp_path: Path) -> None:
    good = build_manifest({"image_path": ["a.jpg"], "split": ["train"]}, "x")
    out = tmp_path / "m.csv"
    write_manifest(good, out)
    bad = good.copy()
    bad.loc[0, "image_path"] = "../outside.jpg"
    with pytest.raises(ValueError, match="relative POSIX"):
        write_manifest(bad, out)
    assert read_manifest(out)["image_path"].tolist() == ["a.jpg"]
    assert "label_index must be -1" in manifest_problems(good.assign(label_index=[2]))[0]
    assert "split values" in manifest_problems(good.assign(split=["training"]))[0]
