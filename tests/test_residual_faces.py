"""The second look for faces left in an anonymised photo: no face stays identifiable without a loud warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganon_utils.anonymize import cli as anonymize_cli
from ganon_utils.anonymize.photos import anonymize_photos
from ganon_utils.anonymize.residual import find_residual_faces, grown_box, obscure_faces, on_replaced_face
from ganon_utils.preprocess.detection import FaceDetection


class FixedDetector:
    """Finds the same boxes in every photo (a stand-in second detector)."""

    name = "fixed"

    def __init__(self, boxes):
        self.boxes = boxes

    def __call__(self, rgb):
        return [FaceDetection(box=b, right_eye=(b[0], b[1]), left_eye=(b[2], b[1]), score=0.9) for b in self.boxes]


def test_only_faces_off_the_replaced_ones_are_residual() -> None:
    replaced = [(100, 100, 200, 220)]
    assert on_replaced_face((105, 95, 210, 230), replaced)  # the anonymised face itself, found again
    assert on_replaced_face((130, 140, 250, 260), replaced)  # offset, but its centre lies on the replaced face
    assert not on_replaced_face((300, 100, 380, 190), replaced)
    found = find_residual_faces(
        np.zeros((400, 400, 3), np.uint8), replaced, FixedDetector([(105, 95, 210, 230), (300, 100, 380, 190)])
    )
    assert [f.box for f in found] == [(300, 100, 380, 190)]


@pytest.mark.parametrize("action", ["blur", "pixelate"])
def test_obscuring_changes_the_grown_box_and_nothing_else(action, astronaut) -> None:
    box = (180.0, 80.0, 300.0, 230.0)
    out = obscure_faces(astronaut, [box], action)
    x0, y0, x1, y1 = grown_box(box, 0.25, *astronaut.shape[:2])
    inside = np.zeros(astronaut.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    assert np.array_equal(out[~inside], astronaut[~inside])
    region, original = out[y0:y1, x0:x1].astype(float), astronaut[y0:y1, x0:x1].astype(float)
    assert np.abs(region - original).mean() > 10  # the face is no longer the face
    # far less detail is left than in the original (a proxy for: no identity survives)
    assert np.abs(np.diff(region, axis=1)).mean() < 0.35 * np.abs(np.diff(original, axis=1)).mean()


def test_a_missed_face_makes_the_photo_residual_and_the_command_fail(tmp_path, astronaut, monkeypatch, capsys) -> None:
    """Stage 01 finds the astronaut; a second face it misses (here: one the stand-in second look reports) stops the
    photo: not written by default, obscured on request, never ``ok``, and the exit status says so."""
    from ganon_utils.anonymize import photos as photos_module

    missed = (10.0, 300.0, 110.0, 420.0)
    monkeypatch.setattr(photos_module, "build_residual_detector", lambda name: FixedDetector([missed]))
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "two_people.png")
    args = [str(folder), str(tmp_path / "out"), "--method", "pixel8", "--no-progress"]
    assert anonymize_cli.cli(args) == 3
    out = capsys.readouterr().out
    assert "not written: two_people.png (residual_face" in out and "WARNING" in out
    assert not list((tmp_path / "out" / "pixel8").glob("*.png"))
    row = pd.read_csv(tmp_path / "out" / "pixel8" / "photos.csv").iloc[0]
    assert (row["status"], row["n_faces"], row["n_pasted"], row["n_residual"]) == ("residual_face", 1, 1, 1)

    obscuring = [str(folder), str(tmp_path / "out2"), "--method", "pixel8", "--no-progress", "--residual", "pixelate"]
    assert anonymize_cli.cli(obscuring) == 3
    written = np.asarray(Image.open(tmp_path / "out2" / "pixel8" / "photo_000001.png"))
    x0, y0, x1, y1 = grown_box(missed, 0.25, *astronaut.shape[:2])
    assert np.abs(written[y0:y1, x0:x1].astype(int) - astronaut[y0:y1, x0:x1]).mean() > 5  # obscured
    row = pd.read_csv(tmp_path / "out2" / "pixel8" / "photos.csv").iloc[0]
    assert row["status"] == "residual_obscured" and "written, NOT fully anonymised" in capsys.readouterr().out


def test_a_photo_without_a_detected_face_is_searched_again(tmp_path, astronaut, monkeypatch) -> None:
    from ganon_utils.anonymize import photos as photos_module

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(folder / "wall.png")
    monkeypatch.setattr(photos_module, "build_residual_detector", lambda name: FixedDetector([]))
    clean = anonymize_photos(folder, tmp_path / "a", "blur9", progress=False)
    assert clean.photos["status"].tolist() == ["no_face"]
    monkeypatch.setattr(photos_module, "build_residual_detector", lambda name: FixedDetector([(50.0, 50.0, 150.0, 170.0)]))
    seen = anonymize_photos(folder, tmp_path / "b", "blur9", progress=False, residual="blur")
    assert seen.photos["status"].tolist() == ["residual_obscured"] and (tmp_path / "b" / "blur9" / "photo_000001.png").is_file()


@pytest.fixture(scope="module")
def group_of_24(demo_dir, tmp_path_factory):
    """A composed group photo of 24 demo faces (~70 px each) with its ground-truth boxes."""
    from ganon_utils.image_io import load_image
    from ganon_utils.preprocess.composed_groups import compose_group_photo, face_crops, mirrored
    from ganon_utils.preprocess.detection import build_detector

    frames = sorted((demo_dir / "training_frames").glob("*.png"))[::85]  # 12 frames of the 3 training people
    photos = [load_image(p).rgb for p in sorted((demo_dir / "portraits").glob("*")) + frames]
    crops = face_crops(photos, build_detector("yunet"))
    crops = (crops + mirrored(crops))[:24]
    assert len(crops) == 24
    photo, boxes = compose_group_photo(crops, face_size=70, columns=6)
    folder = tmp_path_factory.mktemp("group")
    Image.fromarray(photo).save(folder / "group.png")
    return folder, boxes


@pytest.mark.slow
def test_a_group_photo_of_24_faces_has_every_face_replaced(group_of_24, tmp_path, capsys) -> None:
    folder, boxes = group_of_24
    assert anonymize_cli.cli([str(folder), str(tmp_path / "out"), "--method", "pixel8", "--no-progress"]) == 0
    row = pd.read_csv(tmp_path / "out" / "pixel8" / "photos.csv").iloc[0]
    assert row["status"] == "ok" and row["n_residual"] == 0
    assert row["n_pasted"] == row["n_faces"] >= 24  # every face found was replaced (a crop's margin may hold more)
    original = np.asarray(Image.open(folder / "group.png")).astype(int)
    written = np.asarray(Image.open(tmp_path / "out" / "pixel8" / "photo_000001.png")).astype(int)
    for x0, y0, x1, y1 in boxes.round().astype(int):  # every face's own box changed
        assert np.abs(written[y0:y1, x0:x1] - original[y0:y1, x0:x1]).mean() > 8


@pytest.mark.slow
def test_faces_a_weak_detector_misses_are_caught_by_the_second_look(group_of_24, tmp_path, capsys) -> None:
    """BlazeFace (the old default) finds few of these faces: the photo must not pass as ok."""
    folder, _ = group_of_24
    args = [str(folder), str(tmp_path / "out"), "--method", "pixel8", "--detector", "blazeface", "--no-progress"]
    assert anonymize_cli.cli(args) == 3
    out = capsys.readouterr().out
    assert "not written: group.png (residual_face" in out and "WARNING" in out
    row = pd.read_csv(tmp_path / "out" / "pixel8" / "photos.csv").iloc[0]
    assert row["status"] == "residual_face" and row["n_pasted"] + row["n_residual"] >= 20
    assert not list((tmp_path / "out" / "pixel8").glob("*.png"))


def test_neutral_names_say_nothing_of_the_inputs_and_stay_put(tmp_path, astronaut) -> None:
    from ganon_utils.anonymize.photos import default_work_dir

    folder = tmp_path / "in"
    (folder / "family").mkdir(parents=True)
    Image.fromarray(astronaut).save(folder / "family" / "jane_doe.jpg")
    (folder / "family" / "jane_doe_notes.jpg").write_text("not a photo")
    out = tmp_path / "out" / "blur9"
    args = [str(folder), str(tmp_path / "out"), "--method", "blur9", "--no-progress"]
    assert anonymize_cli.cli(args) == 3  # the text file is not an image
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert written == ["photo_000001.jpg"]
    Image.fromarray(astronaut[:, ::-1]).save(folder / "family" / "a_first.jpg")  # sorts before jane_doe.jpg
    assert anonymize_cli.cli(args) == 3
    private = pd.read_csv(default_work_dir(tmp_path / "out", folder) / "photos.csv").set_index("source")
    assert private.loc["family/jane_doe.jpg", "photo_path"] == "photo_000001.jpg"  # not renamed by the new photo
    assert private.loc["family/jane_doe_notes.jpg", "photo"] == "photo_000002"  # numbered, though not written
    assert private.loc["family/a_first.jpg", "photo_path"] == "photo_000003.jpg"
    # nothing in OUTPUT says whose photos these are: not the files' names, not the table, not the messages
    assert not any("jane" in p.name or "family" in p.name for p in out.rglob("*"))
    public = (out / "photos.csv").read_text()
    assert "jane" not in public and "family" not in public and str(tmp_path) not in public
    assert pd.read_csv(out / "photos.csv")["photo"].tolist() == ["photo_000003", "photo_000001", "photo_000002"]


def test_a_message_loses_the_names_and_paths_of_the_input() -> None:
    from ganon_utils.anonymize.photos import message_without_names

    message = "cannot identify image file '/home/jane/family/jane_doe.gif' (family/jane_doe.gif, jane_doe)"
    assert message_without_names(message, "family/jane_doe.gif", "photo_000007") == (
        "cannot identify image file '<path>' (photo_000007, photo_000007)"
    )
