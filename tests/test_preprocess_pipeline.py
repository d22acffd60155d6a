"""The preprocessing stage end to end on real images with the real offline models."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganon_utils.preprocess import PreprocessConfig, pipeline, run_preprocess, tasks_from_folder
from ganon_utils.preprocess.landmarks import NUM_LANDMARKS
from tests.bad_inputs import PREPROCESS_STATUSES, make_bad_input_corpus

pytestmark = pytest.mark.slow


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_input(tmp_path_factory, astronaut, demo_dir) -> Path:
    """Three real portraits and one group photo."""
    folder = tmp_path_factory.mktemp("input")
    Image.fromarray(astronaut).save(folder / "astronaut.png")
    portraits = sorted((demo_dir / "portraits").iterdir())
    for path in [p for p in portraits if p.suffix.lower() in {".jpg", ".png"}][:2]:
        shutil.copy(path, folder / path.name)
    group = sorted((demo_dir / "groups").iterdir())[0]
    shutil.copy(group, folder / f"group{group.suffix}")
    return folder


def test_astronaut_gives_one_face_with_478_landmarks(tmp_path, astronaut) -> None:
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    out = tmp_path / "out"
    result = run_preprocess(tasks_from_folder(tmp_path), out, n_workers=0, progress=False)
    row = result.manifest.iloc[0]
    assert row["status"] == "ok" and row["n_faces"] == 1 and row["n_faces_with_landmarks"] == 1
    face = result.faces.iloc[0]
    landmarks = np.load(out / face["landmarks_path"])
    assert landmarks.shape == (NUM_LANDMARKS, 3) and landmarks.dtype == np.float32
    # the landmarks lie on the face: inside the square, spread over a good part of it
    assert 0.05 < landmarks[:, 0].min() and landmarks[:, 0].max() < 0.95
    assert landmarks[:, 1].max() - landmarks[:, 1].min() > 0.3
    image = np.asarray(Image.open(out / face["face_path"]))
    assert image.shape == (512, 512, 3)
    assert (image.reshape(-1, 3).max(axis=1) == 0).mean() > 0.1  # the background was removed
    assert image[256, 256].max() > 0  # the face centre was kept


def test_group_photo_yields_several_faces(tmp_path, demo_dir) -> None:
    groups = demo_dir / "groups"
    result = run_preprocess(tasks_from_folder(groups), tmp_path / "out", n_workers=0, progress=False)
    assert result.manifest["n_faces"].max() >= 3
    ok = result.faces[result.faces["status"] == "ok"]
    assert len(ok) >= 3
    assert ok["face_id"].is_unique


def test_bad_inputs_each_get_a_status(tmp_path, astronaut) -> None:
    inputs = tmp_path / "bad"
    make_bad_input_corpus(inputs, astronaut)
    result = run_preprocess(tasks_from_folder(inputs), tmp_path / "out", n_workers=0, progress=False)
    got = dict(zip(result.manifest["source"], result.manifest["status"]))
    assert got == PREPROCESS_STATUSES
    failed = result.manifest[result.manifest["status"] != "ok"]
    assert failed["message"].str.len().gt(0).all()  # every failure says why
    # the EXIF-rotated photo was processed upright: its landmarks match the plain JPEG's
    faces = result.faces.set_index("image_id")
    plain = np.load(tmp_path / "out" / faces.loc["face_jpg", "landmarks_path"])
    rotated = np.load(tmp_path / "out" / faces.loc["exif_rotated_jpg", "landmarks_path"])
    assert np.abs(plain[:, :2] - rotated[:, :2]).max() < 0.02


def test_inputs_untouched_and_resume_is_identical(tmp_path, small_input) -> None:
    before = tree_digest(small_input)
    out = tmp_path / "out"
    tasks = tasks_from_folder(small_input)
    first = run_preprocess(tasks, out, n_workers=0, progress=False)
    assert first.processed == len(tasks) and first.skipped == 0
    assert tree_digest(small_input) == before  # inputs byte-identical, nothing added
    complete = tree_digest(out)

    builds = pipeline.MODEL_BUILDS["count"]
    second = run_preprocess(tasks, out, n_workers=0, progress=False)
    assert second.processed == 0 and second.skipped == len(tasks)
    assert tree_digest(out) == complete
    assert pipeline.MODEL_BUILDS["count"] == builds  # nothing to do, no model use

    # an interrupted run: the last image's record and files never got written
    victim = first.manifest.iloc[-1]["image_id"]
    (out / "records" / f"{victim}.json").unlink()
    for path in out.rglob(f"{victim}_*"):
        path.unlink()
    (out / "manifest.csv").unlink()
    resumed = run_preprocess(tasks, out, n_workers=0, progress=False)
    assert resumed.processed == 1
    assert tree_digest(out) == complete


def test_models_are_built_once_per_process(tmp_path, small_input) -> None:
    pipeline._MODEL_CACHE.clear()
    builds = pipeline.MODEL_BUILDS["count"]
    run_preprocess(tasks_from_folder(small_input), tmp_path / "out", n_workers=0, progress=False)
    assert pipeline.MODEL_BUILDS["count"] == builds + 1


def test_dask_workers_build_models_once_each(tmp_path, small_input) -> None:
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run_preprocess(
            tasks_from_folder(small_input), tmp_path / "out", scheduler_address=cluster.scheduler_address,
            progress=False,
        )  # fmt: skip
        with Client(cluster) as client:
            builds = client.run(lambda: __import__("ganon_utils.preprocess.pipeline").preprocess.pipeline.MODEL_BUILDS["count"])
    assert set(builds.values()) <= {0, 1} and sum(builds.values()) >= 1
    serial = run_preprocess(tasks_from_folder(small_input), tmp_path / "serial", n_workers=0, progress=False)
    pd.testing.assert_frame_equal(result.manifest, serial.manifest)
    assert tree_digest(tmp_path / "out" / "faces") == tree_digest(tmp_path / "serial" / "faces")


def test_other_settings_refuse_to_resume(tmp_path, small_input) -> None:
    tasks = tasks_from_folder(small_input)[:1]
    run_preprocess(tasks, tmp_path / "out", n_workers=0, progress=False)
    with pytest.raises(ValueError, match=r"settings \(image_size: 512 -> 256\)"):
        run_preprocess(tasks, tmp_path / "out", PreprocessConfig(image_size=256), n_workers=0, progress=False)


def test_command_line(tmp_path, small_input) -> None:
    out = tmp_path / "cli_out"
    done = subprocess.run(
        [sys.executable, "-m", "ganon_utils", "preprocess", str(small_input), str(out), "--workers", "2", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == len(list(small_input.iterdir()))
    assert (out / "faces.csv").is_file() and any((out / "faces" / "all").glob("*.png"))
    assert "with landmarks" in done.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "ganon_utils", "preprocess", str(small_input), str(small_input / "out")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and "inside the input folder" in refused.stderr  # errors go to stderr


def test_dataset_layout_through_the_command_line(tmp_path, demo_dir) -> None:
    """--dataset reads a dataset in its own layout; faces land in faces/<split>/ with the adapter's split."""
    root = tmp_path / "dataset"
    portraits = sorted((demo_dir / "portraits").glob("pyfeat_*.jpg"))[:2] + [demo_dir / "portraits" / "skimage_astronaut.png"]
    for split, path in zip(["train", "train", "val"], portraits):
        (root / split / "happy").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / split / "happy" / path.name)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "ganon_utils", "preprocess", str(root), str(out), "--dataset", "generic",
         "--workers", "0", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = pd.read_csv(out / "manifest.csv")
    assert sorted(manifest["split"]) == ["train", "train", "val"]
    faces = pd.read_csv(out / "faces.csv")
    for face in faces[faces["face_path"].notna()].itertuples():
        assert face.face_path.startswith(f"faces/{face.split}/") and (out / face.face_path).is_file()
    assert (out / "faces" / "val").is_dir()


def test_a_replaced_input_is_done_again_and_its_old_faces_removed(tmp_path, demo_dir) -> None:
    """Resume is keyed by content: the same name with new bytes is processed again, nothing of the old stays."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(next((demo_dir / "groups").iterdir()), folder / "photo.jpg")  # several faces
    out = tmp_path / "out"
    config = PreprocessConfig()
    first = run_preprocess(tasks_from_folder(folder), out, config, n_workers=0, progress=False)
    assert first.manifest["n_faces"].iloc[0] >= 2
    old_files = [out / p for p in first.faces["face_path"] if p]
    assert all(p.is_file() for p in old_files)
    again = run_preprocess(tasks_from_folder(folder), out, config, n_workers=0, progress=False)
    assert again.processed == 0 and again.skipped == 1  # unchanged: nothing redone

    Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(folder / "photo.jpg", format="JPEG")  # no face now
    replaced = run_preprocess(tasks_from_folder(folder), out, config, n_workers=0, progress=False)
    assert replaced.processed == 1 and replaced.manifest["status"].tolist() == ["no_face"]
    assert not any(p.exists() for p in old_files)  # the old photo's faces are gone
    record = json.loads((out / "records" / f"{replaced.manifest['image_id'].iloc[0]}.json").read_text())
    assert record["source_sha256"] == hashlib.sha256((folder / "photo.jpg").read_bytes()).hexdigest()


def test_an_image_moved_to_another_split_is_done_again(tmp_path, astronaut) -> None:
    """A changed split rule (e.g. another val_fraction) moves an image to another split: its faces must follow, not
    stay under the old split's folder with the old split in faces.csv."""
    from dataclasses import replace

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    out = tmp_path / "out"
    tasks = [replace(task, split="train") for task in tasks_from_folder(folder)]
    first = run_preprocess(tasks, out, PreprocessConfig(), n_workers=0, progress=False)
    assert first.faces["split"].tolist() == ["train"] and first.faces["face_path"].iloc[0].startswith("faces/train/")
    moved = run_preprocess([replace(task, split="val") for task in tasks], out, PreprocessConfig(), n_workers=0, progress=False)
    assert moved.processed == 1 and moved.faces["split"].tolist() == ["val"]
    assert moved.faces["face_path"].iloc[0].startswith("faces/val/") and (out / moved.faces["face_path"].iloc[0]).is_file()
    assert not list((out / "faces" / "train").glob("*.png"))  # nothing left under the old split
    again = run_preprocess([replace(task, split="val") for task in tasks], out, PreprocessConfig(), n_workers=0, progress=False)
    assert again.processed == 0


def test_a_run_removes_the_temporary_files_of_a_killed_run(tmp_path, astronaut) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    out = tmp_path / "out"
    (out / "faces" / "all").mkdir(parents=True)
    leftover = out / "faces" / "all" / ".a_png_0.png.00112233aabb.tmp.png"
    leftover.write_bytes(b"an original face crop")
    run_preprocess(tasks_from_folder(folder), out, PreprocessConfig(), n_workers=0, progress=False)
    assert not leftover.exists()


def test_every_file_under_the_input_gets_a_manifest_row(tmp_path, astronaut) -> None:
    """Nothing is skipped silently: any format by content, hidden files, links to folders, every frame."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    face = Image.fromarray(astronaut)
    face.save(folder / "photo.jfif", format="JPEG")
    face.save(folder / "no_extension", format="PNG")
    face.save(folder / "sub" / "scan.tif", save_all=True, append_images=[face.transpose(Image.FLIP_LEFT_RIGHT)])
    grey = Image.fromarray(np.full(astronaut.shape, 90, np.uint8))  # a whole frame without a face
    face.save(folder / "anim.gif", save_all=True, append_images=[grey, face])
    (folder / "notes.txt").write_text("not an image")
    face.save(folder / ".hidden.png")
    (folder / ".cache").mkdir()
    face.save(folder / ".cache" / "thumb.png")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    face.save(outside / "x.png")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    files = [p for p in folder.rglob("*") if p.is_file() or p.is_symlink()]
    assert len(files) == 8  # the symlink to a folder counts as one entry

    result = run_preprocess(tasks_from_folder(folder), tmp_path / "out", PreprocessConfig(), n_workers=0, progress=False)
    rows = result.manifest.set_index("image_id")
    extra_frames = (2 - 1) + (3 - 1)  # the TIFF's second page, the GIF's second and third frames
    assert len(rows) == len(files) + extra_frames
    assert set(rows["source"]) == {p.relative_to(folder).as_posix() for p in files}
    status = dict(zip(rows["source"] + rows["frame"].map(lambda f: "" if pd.isna(f) else f"#{int(f)}"), rows["status"]))
    assert status["photo.jfif"] == "ok" and status["no_extension"] == "ok"  # read by content, not by name
    assert status["sub/scan.tif#0"] == "ok" and status["sub/scan.tif#1"] == "ok"
    assert [status[f"anim.gif#{k}"] for k in range(3)] == ["ok", "no_face", "ok"]
    assert status["notes.txt"] == "not_an_image"
    assert status[".hidden.png"] == status[".cache/thumb.png"] == "skipped_hidden"
    assert status["linked"] == "skipped_symlink_dir"
    from ganon_utils.image_io import image_id_for

    tif, gif = image_id_for("sub/scan.tif"), image_id_for("anim.gif")
    frame_faces = result.faces[result.faces["image_id"].str.contains("_frame")]
    assert {f.rsplit("_", 1)[0] for f in frame_faces["face_id"]} == {
        f"{tif}_frame0",
        f"{tif}_frame1",
        f"{gif}_frame0",
        f"{gif}_frame2",
    }
    boxes = result.faces.set_index("face_id")["box_x0"]
    assert boxes[f"{tif}_frame1_0"] != boxes[f"{tif}_frame0_0"]  # the second page (mirrored) was read
