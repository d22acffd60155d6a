"""The re-identification attack of notebook 04: ranking against a gallery of original faces (both gallery modes),
identification rates and chance levels, the verification ROC / AUC (checked against scikit-learn), identities from
an adapter's dataset manifest, and SFace's YuNet alignment with the original's detection borrowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ganon_utils.evaluation.anonymity import ALIGN_ORIGINAL, ALIGN_OWN, alignment_note, identity_evaluation, read_embedding_cache
from ganon_utils.evaluation.figures import plot_reidentification_roc
from ganon_utils.evaluation.identity import SFaceEmbedder, build_embedder
from ganon_utils.evaluation.reidentification import (
    GALLERY_MODES,
    IDENTITY_FROM_SUBJECT,
    IDENTITY_PER_FACE,
    OTHER_PHOTOS,
    SAME_PHOTO,
    face_identities,
    identification_rates,
    pair_distances,
    rank_identification,
    reidentification_attack,
    reidentification_caption,
    reidentification_headline,
    verification_roc,
)
from ganon_utils.image_io import load_image
from tests.conftest import stage01_with_dataset_manifest


def people(n_people: int, photos: int, dim: int = 32, noise: float = 0.1, seed: int = 0):
    """Embeddings of ``photos`` photos of each of ``n_people`` people: a person's direction plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim))
    embeddings = np.repeat(centres, photos, axis=0) + noise * rng.normal(size=(n_people * photos, dim))
    ids = np.repeat([f"p{i}" for i in range(n_people)], photos)
    photo_ids = np.array([f"img{i}" for i in range(n_people * photos)])
    return embeddings, ids, photo_ids


def test_identical_embeddings_rank_first_and_random_ones_near_chance() -> None:
    gallery, ids, photos = people(20, 3)
    ranks = rank_identification(gallery, ids, gallery, ids)
    assert (ranks == 1).all()
    rates = identification_rates(ranks, 20)
    assert rates == {"rank1": 1.0, "chance_rank1": 0.05, "rank5": 1.0, "chance_rank5": 0.25}
    # other photos only: with little noise the person is still found first
    other = rank_identification(gallery, ids, gallery, ids, exclude_same_photo=True, probe_photos=photos, gallery_photos=photos)
    assert (other == 1).all()
    # random probes: the rank-1 rate is near 1 / identities
    gallery, ids, _ = people(50, 1, seed=1)
    rng = np.random.default_rng(2)
    random_ranks = np.concatenate([rank_identification(rng.normal(size=(50, 32)), ids, gallery, ids) for _ in range(40)])
    rates = identification_rates(random_ranks, 50)
    assert abs(rates["rank1"] - 0.02) < 0.015 and abs(rates["rank5"] - 0.10) < 0.03
    assert np.mean(random_ranks) == pytest.approx(25.5, abs=2.0)


def test_rank_counts_identities_not_faces_and_ties_go_against_the_true_identity() -> None:
    # gallery: person a twice (one close, one far), b and c once; probe of a
    gallery = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.8, 0.6, 0.0], [0.6, 0.8, 0.0]])
    ids = ["a", "a", "b", "c"]
    probe = np.array([[0.0, 1.0, 0.0]])  # closest: c (0.2), then b (0.4), then a (1.0)
    assert rank_identification(probe, ["a"], gallery, ids).tolist() == [3.0]
    assert rank_identification(probe, ["c"], gallery, ids).tolist() == [1.0]
    tie = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert rank_identification(np.array([[1.0, 0.0]]), ["x"], tie, ["x", "y", "z"]).tolist() == [2.0]
    # an identity absent from the gallery, or an embedding without a direction
    assert np.isnan(rank_identification(probe, ["nobody"], gallery, ids)[0])
    assert rank_identification(np.zeros((1, 3)), ["a"], gallery, ids).tolist() == [3.0]  # never a match: last
    with pytest.raises(ValueError, match="photo"):
        rank_identification(probe, ["a"], gallery, ids, exclude_same_photo=True)


def test_other_photos_leaves_out_the_probes_own_photo_and_identities_with_no_other() -> None:
    gallery = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    ids, photos = ["a", "a", "b"], ["i1", "i2", "i3"]
    ranks = rank_identification(gallery, ids, gallery, ids, exclude_same_photo=True, probe_photos=photos, gallery_photos=photos)
    assert ranks[:2].tolist() == [1.0, 1.0] and np.isnan(ranks[2])  # b has no other photo
    # a probe far from its own photo but close to another person: its own photo would have saved it
    probe = np.array([[0.0, 1.0]])
    assert rank_identification(probe, ["a"], gallery, ids).tolist() == [2.0]
    gallery2 = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9]])
    same = rank_identification(probe, ["a"], gallery2, ["a", "a", "b"], probe_photos=["i1"], gallery_photos=["i1", "i2", "i3"])
    other = rank_identification(probe, ["a"], gallery2, ["a", "a", "b"], exclude_same_photo=True, probe_photos=["i1"],
                                gallery_photos=["i1", "i2", "i3"])  # fmt: skip
    assert same.tolist() == [1.0] and other.tolist() == [2.0]


def test_verification_auc_matches_scikit_learn_and_its_limits() -> None:
    rng = np.random.default_rng(3)
    genuine, impostor = rng.uniform(0, 1.2, 300), rng.uniform(0.3, 1.5, 2000)
    genuine[:20] = impostor[:20]  # ties count one half, as in scikit-learn
    roc = verification_roc(genuine, impostor)
    labels = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    assert roc.auc == pytest.approx(roc_auc_score(labels, -np.r_[genuine, impostor]), abs=1e-12)
    assert roc.fpr[0] == roc.tpr[0] == 0 and roc.fpr[-1] == roc.tpr[-1] == 1
    assert np.all(np.diff(roc.fpr) >= 0) and np.all(np.diff(roc.tpr) >= 0)
    assert verification_roc(np.array([0.1, 0.2]), np.array([0.5, 0.9])).auc == 1.0  # perfectly separated
    assert verification_roc(np.array([0.9]), np.array([0.1, 0.2])).auc == 0.0
    assert verification_roc(np.full(5, 0.5), np.full(7, 0.5)).auc == 0.5
    assert np.isnan(verification_roc(np.array([0.1]), np.array([])).auc)


def test_pair_distances_split_same_and_different_person_and_sample_large_sets() -> None:
    gallery, ids, photos = people(10, 2)
    genuine, impostor, n = pair_distances(gallery, ids, gallery, ids)
    assert len(genuine) == 10 * 4 and n == len(impostor) == 20 * 18
    assert genuine.max() < impostor.min()  # little noise: perfectly separated
    genuine2, impostor2, n2 = pair_distances(gallery, ids, gallery, ids, exclude_same_photo=True, probe_photos=photos,
                                             gallery_photos=photos)  # fmt: skip
    assert len(genuine2) == 10 * 2 and n2 == n and genuine2.min() > 0  # own photo's pairs (distance 0) left out
    _, sampled, n3 = pair_distances(gallery, ids, gallery, ids, max_impostor_pairs=100)
    assert n3 == 360 and 40 < len(sampled) < 180


def toy_faces(n_people: int, photos: int):
    embeddings, ids, photo_ids = people(n_people, photos)
    face_ids = [f"{p}_0" for p in photo_ids]
    faces = pd.DataFrame({"face_id": face_ids, "image_id": photo_ids})
    original = dict(zip(face_ids, embeddings))
    rng = np.random.default_rng(9)
    methods = {
        "original": original,
        "same": {f: v.copy() for f, v in original.items()},  # an "anonymisation" that changes nothing
        "random": {f: rng.normal(size=v.shape) for f, v in original.items()},
    }
    return methods, faces, pd.Series([f"subject:{i}" for i in ids], index=face_ids)


def test_attack_table_per_method_and_gallery_mode() -> None:
    embeddings, faces, identities = toy_faces(8, 3)
    embeddings["random"].pop(faces["face_id"].iloc[0])  # a face the method did not produce
    result = reidentification_attack(embeddings, faces, identities, IDENTITY_FROM_SUBJECT)
    table = result.table.set_index(["method", "gallery"])
    assert list(result.table["method"].drop_duplicates()) == ["original", "same", "random"]
    assert table.loc[("same", SAME_PHOTO), "rank1"] == 1.0 and table.loc[("same", OTHER_PHOTOS), "rank1"] == 1.0
    assert table.loc[("same", SAME_PHOTO), "auc"] == 1.0
    assert table.loc[("random", SAME_PHOTO), "probes"] == 23 and table.loc[("same", SAME_PHOTO), "probes"] == 24
    assert table.loc[("random", OTHER_PHOTOS), "auc"] == pytest.approx(0.5, abs=0.2)
    assert (result.table["gallery_faces"] == 24).all() and (result.table["gallery_identities"] == 8).all()
    assert (result.table["chance_rank1"] == 1 / 8).all() and (result.table["chance_rank5"] == 5 / 8).all()
    assert table.loc[("same", OTHER_PHOTOS), "same_person_pairs"] == 8 * 3 * 2
    assert "random 0." in reidentification_headline(result) and "other photos" in reidentification_headline(result)
    assert "8 identities" in reidentification_caption(result)
    figure = plot_reidentification_roc(result.rocs, GALLERY_MODES)
    assert len(figure.axes) == 2
    # a person with a single photo is left out of other_photos only
    embeddings, faces, identities = toy_faces(4, 2)
    identities.iloc[0] = "subject:alone"
    result = reidentification_attack(embeddings, faces, identities, IDENTITY_FROM_SUBJECT).table.set_index(["method", "gallery"])
    assert result.loc[("same", OTHER_PHOTOS), "probes"] == 6 and result.loc[("same", OTHER_PHOTOS), "probes_left_out"] == 2
    assert result.loc[("same", SAME_PHOTO), "probes_left_out"] == 0


def test_without_subjects_each_face_is_its_own_identity_and_only_the_same_photo_gallery_runs(portraits_stage01, tmp_path) -> None:
    faces = pd.read_csv(portraits_stage01 / "faces.csv", keep_default_na=False)
    identities, source = face_identities(portraits_stage01, faces)
    assert source == IDENTITY_PER_FACE and identities.nunique() == len(faces)
    embeddings, toy, _ = toy_faces(3, 2)
    result = reidentification_attack(embeddings, toy, pd.Series([f"face:{f}" for f in toy["face_id"]], index=toy["face_id"]),
                                     IDENTITY_PER_FACE)  # fmt: skip
    assert set(result.table["gallery"]) == {SAME_PHOTO}
    assert "needs identities" in reidentification_caption(result)
    assert len(plot_reidentification_roc(result.rocs, GALLERY_MODES).axes) == 1
    # a manifest without a subject column changes nothing
    no_subject = stage01_with_dataset_manifest(portraits_stage01, tmp_path / "a", {"label": lambda i: "happy"})
    assert face_identities(no_subject, faces)[1] == IDENTITY_PER_FACE


def test_identities_from_the_dataset_manifest_subject_column(portraits_stage01, tmp_path) -> None:
    sources = pd.read_csv(portraits_stage01 / "manifest.csv", keep_default_na=False)["source"]
    subject = lambda i: "obama" if "obama" in sources[i] else ("" if "pyfeat" in sources[i] else f"person{i}")  # noqa: E731
    stage01 = stage01_with_dataset_manifest(portraits_stage01, tmp_path, {"subject": subject})
    faces = pd.read_csv(stage01 / "faces.csv", keep_default_na=False)
    identities, source = face_identities(stage01, faces)
    assert source == IDENTITY_FROM_SUBJECT
    obama = [f for f in faces["face_id"] if "obama" in f]
    assert len(obama) >= 3 and set(identities.loc[obama]) == {"subject:obama"}
    unnamed = [f for f in faces["face_id"] if "pyfeat" in f]
    assert all(identities.loc[f] == f"face:{f}" for f in unnamed)  # no subject: its own identity


def test_sface_aligns_on_yunet_and_borrows_the_originals_detection(portraits_stage01, portraits_baselines, tmp_path) -> None:
    sface = SFaceEmbedder()
    faces = pd.read_csv(portraits_stage01 / "faces.csv", keep_default_na=False)
    rgb = load_image(portraits_stage01 / faces["face_path"].iloc[0]).rgb
    row = sface.detect_face(rgb)
    assert row is not None and row.shape == (15,) and row[14] >= 0.6
    x, y, w, h = row[:4]
    assert x < rgb.shape[1] / 2 < x + w and y < rgb.shape[0] / 2 < y + h  # the crop's own face
    aligned, resized = sface.embed([rgb], [row]), SFaceEmbedder(alignment="resize").embed([rgb])
    assert aligned.shape == resized.shape == (1, 128) and not np.allclose(aligned, resized)
    assert sface.detect_face(np.zeros((512, 512, 3), np.uint8)) is None
    with pytest.raises(ValueError, match="alignment"):
        build_embedder("sface", alignment="mtcnn")
    assert "alignCrop" in sface.description and "yunet" in sface.settings
    assert "resize" in build_embedder("sface", alignment="resize").settings

    cache = tmp_path / "embeddings"
    result = identity_evaluation(
        portraits_stage01, portraits_baselines, ["pixel8", "blur9"], sface, cache_dir=cache, progress=False
    )
    distances = result.distances
    pixel8 = distances[distances["method"] == "pixel8"]
    assert (pixel8["alignment"] == ALIGN_ORIGINAL).mean() > 0.5  # YuNet finds no face in 8x8 blocks
    assert (distances.loc[distances["method"] == "original", "alignment"] == ALIGN_OWN).all()
    assert (distances.loc[distances["method"] == "blur9", "alignment"] == ALIGN_OWN).mean() > 0.9
    note = alignment_note(distances)
    assert "alignCrop" in note and f"pixel8 {int((pixel8['alignment'] == ALIGN_ORIGINAL).sum())}" in note
    assert set(result.embeddings) == {"original", "pixel8", "blur9"}
    entries = read_embedding_cache(cache / "sface" / "pixel8.npz", sface.settings)
    borrowed = next(f for f, e in entries.items() if e.alignment == ALIGN_ORIGINAL)
    assert np.array_equal(entries[borrowed].row, read_embedding_cache(cache / "sface" / "original.npz")[borrowed].row)
    # another input (settings) does not reuse the cache
    assert read_embedding_cache(cache / "sface" / "pixel8.npz", SFaceEmbedder(alignment="resize").settings) == {}
    assert read_embedding_cache(Path(cache / "sface" / "pixel8.npz"), None)  # without settings: read as is


def test_caption_warns_when_identities_have_unequal_gallery_sizes() -> None:
    embeddings, faces, identities = toy_faces(4, 2)
    identities.iloc[0] = "subject:alone"
    result = reidentification_attack(embeddings, faces, identities, IDENTITY_FROM_SUBJECT)
    assert result.faces_per_identity == (1, 2) and result.other_photo_identities == 3
    caption = reidentification_caption(result)
    assert "1 to 2 gallery faces" in caption and "6 probes of 3 identities" in caption
    even = reidentification_attack(*toy_faces(4, 2)[:3], IDENTITY_FROM_SUBJECT)
    assert "gallery faces:" not in reidentification_caption(even)


def test_crops_and_copies_of_one_photo_are_not_other_photos_of_the_person() -> None:
    """A partial-face crop of the probe's photo must leave the gallery with the photo itself in other_photos."""
    embeddings, faces, identities = toy_faces(4, 2)  # img0, img1: person 0; img2, img3: person 1; ...
    crop_of_img0 = "crop0_0"
    for version in embeddings.values():  # the crop embeds like its photo (as a partial crop nearly does)
        version[crop_of_img0] = version["img0_0"].copy()
    faces = pd.concat([faces, pd.DataFrame({"face_id": [crop_of_img0], "image_id": ["crop0"]})], ignore_index=True)
    identities[crop_of_img0] = identities["img0_0"]
    plain = reidentification_attack(embeddings, faces, identities, IDENTITY_FROM_SUBJECT).table.set_index(["method", "gallery"])
    grouped = reidentification_attack(embeddings, faces, identities, IDENTITY_FROM_SUBJECT, photos={"crop0": "img0"})
    grouped = grouped.table.set_index(["method", "gallery"])
    # without the grouping the crop counts as another photo of person 0: img0's probe finds it at distance 0
    assert plain.loc[("same", OTHER_PHOTOS), "same_person_pairs"] == grouped.loc[("same", OTHER_PHOTOS), "same_person_pairs"] + 2
    assert grouped.loc[("same", OTHER_PHOTOS), "probes"] == plain.loc[("same", OTHER_PHOTOS), "probes"] == 9
    assert grouped.loc[("same", SAME_PHOTO), "same_person_pairs"] == plain.loc[("same", SAME_PHOTO), "same_person_pairs"]


def test_photo_groups_from_the_generic_adapters_photo_column(tmp_path) -> None:
    from ganon_utils.datasets import load_dataset, photo_groups, write_manifest
    from ganon_utils.image_io import image_id_for

    root = tmp_path / "photos"
    root.mkdir()
    for name in ("a.jpg", "a_crop.jpg", "b.jpg"):
        (root / name).write_bytes(b"x")
    (root / "list.csv").write_text("image_path,subject,photo\na.jpg,ann,\na_crop.jpg,ann,a.jpg\nb.jpg,ann,\n")
    manifest = load_dataset("generic", root, csv="list.csv", label_column=None, subject_column="subject", photo_column="photo")
    assert dict(zip(manifest["image_path"], manifest["photo"])) == {"a.jpg": "a.jpg", "a_crop.jpg": "a.jpg", "b.jpg": "b.jpg"}
    stage01 = tmp_path / "stage01"
    write_manifest(manifest, stage01 / "dataset_manifest.csv")
    groups = photo_groups(stage01)
    assert groups[image_id_for("a_crop.jpg")] == image_id_for("a.jpg") and groups[image_id_for("b.jpg")] == image_id_for("b.jpg")
    assert photo_groups(tmp_path / "no_manifest") == {}
