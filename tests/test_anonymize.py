"""Anonymisation: the baselines, GANonymization with random-weight generators, external folders,
paste-back, the command line, resuming, and notebook 03 run with papermill."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ganon_utils.anonymize import (
    EXTERNAL_METHODS,
    FaceSynthesizer,
    alignment_from_record,
    anonymize_photos,
    anonymize_preprocessed,
    feathered_mask,
    gaussian_blur,
    head_mask,
    pixelate,
    register_external,
    synthesis,
)
from ganon_utils.anonymize import cli as anonymize_cli
from ganon_utils.anonymize.methods import builtin_method
from ganon_utils.anonymize.paste_back import photo_region
from ganon_utils.anonymize.photos import PREPROCESS_FOLDER, PUBLIC_PHOTO_COLUMNS, default_work_dir
from ganon_utils.anonymize.synthesis import images_to_input, output_to_images
from ganon_utils.pix2pix import Discriminator, GeneratorUNet, save_checkpoint
from ganon_utils.preprocess import PreprocessConfig, run_preprocess, tasks_from_folder
from ganon_utils.preprocess.pipeline import detect_and_process
from tests.conftest import execute_notebook

REPO_ROOT = Path(__file__).resolve().parent.parent
EXIF_ARTIST = "Secret Photographer 4711"


# --- fixtures ---------------------------------------------------------------------------------------


def tiny_checkpoint(path: Path, *, seed: int = 0, image_size: int | None = 64, base_channels: int = 8) -> Path:
    """Our training-checkpoint format with a small random generator (5 down blocks, 32 px minimum)."""
    torch.manual_seed(seed)
    generator = GeneratorUNet(num_downs=5, base_channels=base_channels)
    discriminator = Discriminator(base_channels=base_channels)
    config = {} if image_size is None else {"image_size": image_size}
    return save_checkpoint(
        path, generator=generator, discriminator=discriminator,
        optimizer_generator=torch.optim.Adam(generator.parameters()),
        optimizer_discriminator=torch.optim.Adam(discriminator.parameters()),
        epoch=1, step=3, config=config,
    )  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def stage01(portraits_stage01) -> Path:
    """Stage 01 run for real on the demo portraits (shared by the test modules; only read)."""
    return portraits_stage01


@pytest.fixture()
def stage01_one_without_landmarks(stage01, tmp_path) -> tuple[Path, str]:
    """A copy of ``stage01`` in which the first face has no landmarks (as when the face mesh fails)."""
    copy = tmp_path / "processed"
    shutil.copytree(stage01, copy)
    faces = pd.read_csv(copy / "faces.csv", keep_default_na=False)
    first = faces.index[faces["status"] == "ok"][0]
    (copy / faces.loc[first, "landmarks_path"]).unlink()
    faces.loc[first, ["status", "landmarks_path"]] = ["no_landmarks", ""]
    faces.to_csv(copy / "faces.csv", index=False)
    return copy, str(faces.loc[first, "face_id"])


@pytest.fixture()
def count_checkpoint_reads(monkeypatch) -> list[str]:
    """Every checkpoint file the synthesis module reads, in order."""
    reads: list[str] = []
    original = synthesis.read_checkpoint

    def counting(path, **kwargs):
        reads.append(str(path))
        return original(path, **kwargs)

    monkeypatch.setattr(synthesis, "read_checkpoint", counting)
    return reads


def ok_faces(preprocess_dir: Path) -> pd.DataFrame:
    faces = pd.read_csv(preprocess_dir / "faces.csv", keep_default_na=False)
    return faces[faces["face_path"] != ""]


def png_chunk_types(data: bytes) -> list[str]:
    """The chunk types of a PNG file, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        types.append(data[offset + 4 : offset + 8].decode("ascii"))
        offset += 12 + length
    return types


def save_jpeg_with_exif(path: Path, rgb: np.ndarray) -> Path:
    exif = Image.Exif()
    exif[0x013B] = EXIF_ARTIST  # Artist
    exif[0x010F] = "CameraMaker"  # Make
    Image.fromarray(rgb).save(path, quality=95, exif=exif.tobytes(), comment=b"private comment")
    assert Image.open(path).getexif()[0x013B] == EXIF_ARTIST
    return path


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a JPEG file's segments up to the start of the scan (0xE1 = APP1/EXIF, 0xFE = comment)."""
    assert data[:2] == b"\xff\xd8"
    markers, offset = [], 2
    while offset < len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: the compressed data follows
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length
    return markers


def assert_no_metadata(path: Path) -> None:
    data = path.read_bytes()
    if data[:2] == b"\xff\xd8":  # JPEG: JFIF header, tables, frame, scan; no APP1 (EXIF/XMP), APP2 (ICC), comment
        assert set(jpeg_markers(data)) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xC2, 0xDD, 0xDA}, (path, jpeg_markers(data))
    else:
        assert png_chunk_types(data) == ["IHDR"] + ["IDAT"] * (len(png_chunk_types(data)) - 2) + ["IEND"], path
    assert EXIF_ARTIST.encode() not in data and b"private comment" not in data
    with Image.open(path) as image:
        assert not image.getexif() and "exif" not in image.info


# --- baselines -----------------------------------------------------------------------------------------


def constant_regions(image: np.ndarray) -> int:
    """Number of 4-connected regions of identical colour."""
    from scipy import ndimage

    keys = image.astype(np.int64) @ np.array([65536, 256, 1])
    return sum(ndimage.label(keys == key)[1] for key in np.unique(keys))


def test_pixel8_gives_64_uniform_blocks_of_area_means(astronaut) -> None:
    before = astronaut.copy()
    result = pixelate(astronaut, 8)
    assert np.array_equal(astronaut, before)  # input untouched
    assert result.shape == astronaut.shape and result.dtype == np.uint8
    blocks = result.reshape(8, 64, 8, 64, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # each 64x64 block constant
    originals = astronaut.reshape(8, 64, 8, 64, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(blocks[:, 0, :, 0].astype(np.float64) - originals).max() <= 0.5 + 1e-9  # rounded area mean
    assert constant_regions(result) == 64  # exactly 64 regions of one colour each


def test_pixel16_is_finer_and_obfuscates_less_than_pixel8(astronaut) -> None:
    p16, p8 = pixelate(astronaut, 16), pixelate(astronaut, 16 // 2)
    blocks = p16.reshape(16, 32, 16, 32, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()
    assert constant_regions(p16) >= 240  # a few neighbouring blocks of the photo share a colour (background)
    y, x = np.mgrid[0:512, 0:512]
    gradient = np.stack([x // 2, y // 2, (x + y) // 4], axis=2).astype(np.uint8)
    assert constant_regions(pixelate(gradient, 16)) == 256 and constant_regions(pixelate(gradient, 8)) == 64
    error = lambda image: np.abs(image.astype(int) - astronaut.astype(int)).mean()  # noqa: E731
    assert error(p8) > error(p16) > 0
    assert pixelate(astronaut[:300, :500], 8).shape == (300, 500, 3)  # sizes that are not multiples still work


def test_larger_blur_kernel_changes_the_face_more(astronaut) -> None:
    diff = lambda image: np.abs(image.astype(int) - astronaut.astype(int)).mean()  # noqa: E731
    blur9, blur17 = gaussian_blur(astronaut, 9), gaussian_blur(astronaut, 17)
    assert diff(blur17) > diff(blur9) > 0
    assert np.array_equal(blur9, cv2.GaussianBlur(astronaut, (9, 9), 0))
    with pytest.raises(ValueError, match="odd"):
        gaussian_blur(astronaut, 8)


def test_status_counts_and_examples() -> None:
    from ganon_utils.anonymize.figures import example_face_ids, status_counts

    a = pd.DataFrame({"face_id": ["f0", "f1", "f2"], "image_id": ["i0", "i0", "i1"], "status": ["ok", "ok", "missing"]})
    b = a.assign(status=["average_face", "ok", "ok"])
    counts = status_counts({"a": a, "b": b})
    assert counts.columns.tolist() == ["method", "ok", "average_face", "missing", "total"]
    assert counts.to_numpy().tolist() == [["a", 2, 0, 1, 3], ["b", 2, 1, 0, 3]]
    assert example_face_ids({"a": a, "b": b}, 5) == ["f0"]  # f2 is missing in a; one face per image
    assert example_face_ids({"a": a, "b": b}, 5, per_image=2) == ["f0", "f1"]


def test_method_names() -> None:
    face = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(builtin_method("pixel8")(face), pixelate(face, 8))
    assert np.array_equal(builtin_method("blur17")(face), gaussian_blur(face, 17))
    assert builtin_method("deepprivacy2") is None and builtin_method("ganonymization") is None
    with pytest.raises(ValueError, match="odd"):
        builtin_method("blur8")


# --- GANonymization -----------------------------------------------------------------------------------


def test_generator_normalisation_round_trip() -> None:
    images = torch.tensor([0, 255, 128], dtype=torch.uint8).reshape(1, 1, 3, 1).expand(1, 2, 3, 3).contiguous()
    x = images_to_input(images)
    assert x.shape == (1, 3, 2, 3)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([-1.0, -1.0, -1.0]))  # 0 -> -1
    assert torch.allclose(x[0, :, 0, 1], torch.tensor([1.0, 1.0, 1.0]))  # 255 -> 1
    assert torch.equal(output_to_images(x), images)  # the inverse recovers the bytes
    assert output_to_images(torch.zeros(2, 3, 8, 8), (16, 16)).shape == (2, 16, 16, 3)


def test_ganonymization_keeps_face_ids_flags_average_face_loads_once_and_batches(
    stage01_one_without_landmarks, checkpoint, tmp_path, monkeypatch, count_checkpoint_reads
) -> None:
    preprocess_dir, no_landmarks_id = stage01_one_without_landmarks
    batch_sizes: list[int] = []
    generator_inputs: list[tuple[int, ...]] = []
    original = synthesis.synthesize_faces

    def recording(generator, landmark_batch, **kwargs):
        batch_sizes.append(len(landmark_batch))
        generator_inputs.append((*landmark_batch.shape[1:3], kwargs["input_size"]))
        return original(generator, landmark_batch, **kwargs)

    monkeypatch.setattr(synthesis, "synthesize_faces", recording)
    out = tmp_path / "anonymized"
    manifest = anonymize_preprocessed(
        preprocess_dir, out, "ganonymization", checkpoint=checkpoint, batch_size=4, device="cpu", progress=False
    )

    expected = ok_faces(preprocess_dir)
    assert len(expected) >= 10
    assert manifest["face_id"].tolist() == expected["face_id"].tolist()
    for row in manifest.itertuples():
        assert row.face_path == f"{row.split}/{row.face_id}.png"
        assert np.asarray(Image.open(out / "ganonymization" / row.face_path)).shape == (512, 512, 3)
    statuses = manifest.set_index("face_id")["status"]
    assert statuses[no_landmarks_id] == "average_face"
    assert (statuses.drop(no_landmarks_id) == "ok").all()
    assert count_checkpoint_reads == [str(checkpoint)]  # loaded once for all faces
    n = len(expected)
    assert batch_sizes == [4] * (n // 4) + ([n % 4] if n % 4 else [])
    # drawn at the crop's side, resized to the checkpoint's training side (64) as the authors' Pix2PixTransformer did
    assert set(generator_inputs) == {(512, 512, 64)}
    written = pd.read_csv(out / "ganonymization" / "manifest.csv", keep_default_na=False)
    assert written["status"].tolist() == manifest["status"].tolist()

    # the average face is what the generator makes of a black landmark image
    synthesizer = FaceSynthesizer.from_checkpoint(checkpoint, device="cpu")
    average = synthesizer([None], 512)[0]
    stored = np.asarray(Image.open(out / "ganonymization" / "all" / f"{no_landmarks_id}.png"))
    assert np.abs(stored.astype(int) - average.astype(int)).max() <= 1


def test_the_generator_gets_the_landmark_style_it_was_trained_on(tmp_path, checkpoint) -> None:
    from ganon_utils.anonymize.synthesis import checkpoint_landmark_style, describe_checkpoint

    raw = torch.load(checkpoint, weights_only=True)
    assert checkpoint_landmark_style(raw) == "pixel"  # ours, from before the style was recorded
    raw["config"] = {"config": {"landmark_style": "mediapipe", "image_size": 64}}
    torch.save(raw, tmp_path / "new.pt")
    assert FaceSynthesizer.from_checkpoint(tmp_path / "new.pt", device="cpu").landmark_style == "mediapipe"
    lightning = {"state_dict": {f"generator.{k}": v for k, v in raw["generator"].items()}, "hyper_parameters": {"img_size": 64}}
    torch.save(lightning, tmp_path / "authors.ckpt")
    assert describe_checkpoint(tmp_path / "authors.ckpt").landmark_style == "mediapipe"  # the authors' drawing
    assert FaceSynthesizer.from_checkpoint(checkpoint, device="cpu").landmark_style == "pixel"


def test_inference_draws_at_the_crop_size_then_resizes_like_the_authors(stage01, checkpoint) -> None:
    import torchvision.transforms as T

    from ganon_utils.preprocess.landmarks import render_landmarks

    points = np.load(stage01 / ok_faces(stage01)["landmarks_path"].iloc[0])
    synthesizer = FaceSynthesizer.from_checkpoint(checkpoint, device="cpu")
    images = synthesizer.landmark_images([points], 512)
    assert images.shape == (1, 512, 512, 3) and np.array_equal(images[0], render_landmarks(points, 512, style="pixel"))
    transform = T.Compose([T.ToTensor(), T.Resize(64), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    with torch.no_grad():
        expected = synthesizer.generator(transform(images[0])[None])
    faces = synthesizer.synthesize(images)  # no output size: the generator's own
    assert np.abs(faces[0].astype(int) - output_to_images(expected)[0].numpy().astype(int)).max() <= 1


def test_same_landmarks_give_the_same_face(stage01, checkpoint, tmp_path) -> None:
    faces = ok_faces(stage01)
    landmarks = [np.load(stage01 / p) for p in faces["landmarks_path"].head(2)]
    synthesizer = FaceSynthesizer.from_checkpoint(checkpoint, device="cpu")
    first = synthesizer([landmarks[0]], 512)
    assert np.array_equal(first, synthesizer([landmarks[0]], 512))
    batch = synthesizer([landmarks[0], landmarks[1], landmarks[0], None], 512)
    assert np.abs(batch[0].astype(int) - first[0].astype(int)).max() <= 1  # batching does not change a face
    assert np.array_equal(batch[0], batch[2])
    assert not np.array_equal(batch[0], batch[1]) and not np.array_equal(batch[0], batch[3])
    # two whole runs write identical files
    runs = []
    for name in ("a", "b"):
        anonymize_preprocessed(stage01, tmp_path / name, "ganonymization", checkpoint=checkpoint, device="cpu", progress=False)
        runs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name / "ganonymization" / "all").iterdir())})
    assert runs[0] == runs[1] and len(runs[0]) == len(faces)


def test_generator_size_comes_from_the_checkpoint_else_the_face_size(tmp_path) -> None:
    bare = tmp_path / "bare.pt"
    torch.manual_seed(1)
    torch.save(GeneratorUNet(num_downs=5, base_channels=4).state_dict(), bare)
    assert FaceSynthesizer.from_checkpoint(bare, device="cpu", fallback_image_size=96).image_size == 96
    lightning = tmp_path / "lightning.ckpt"
    state = {f"generator.{k}": v for k, v in GeneratorUNet(num_downs=5, base_channels=4).state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"img_size": 128}, "epoch": 24}, lightning)
    synthesizer = FaceSynthesizer.from_checkpoint(lightning, device="cpu")
    assert synthesizer.image_size == 128
    assert synthesizer([None], 40).shape == (1, 40, 40, 3)
    info = synthesis.describe_checkpoint(lightning)
    assert info.kind == "lightning" and info.epoch == 24 and not info.paper_architecture
    nested = {"config": {"config": {"image_size": 160, "epochs": 2}, "data": {"train_faces": 3}}}
    assert synthesis.checkpoint_image_size(nested) == 160  # notebook 02's run record
    assert synthesis.checkpoint_image_size({"config": {}}) is None
    with pytest.raises(ValueError, match="multiple of 32"):
        FaceSynthesizer.from_checkpoint(bare, device="cpu", image_size=100)


def test_landmarks_are_drawn_at_the_crop_side_the_generator_was_trained_on(tmp_path) -> None:
    """A generator trained on 256 px crops gets landmark images drawn at 256 px also for 512 px faces (the plus marks
    as thick as in training); without a recorded side they are drawn at the faces' own side, as the authors did."""
    from ganon_utils.anonymize.synthesis import landmark_images

    torch.manual_seed(0)
    generator, discriminator = GeneratorUNet(num_downs=5, base_channels=4), Discriminator(base_channels=4)
    record = {"config": {"image_size": 64}, "data": {"preprocess_dir": "/x", "train_faces": 9, "crop_size": 256}}
    path = save_checkpoint(tmp_path / "run.pt", generator=generator, discriminator=discriminator,
                           optimizer_generator=torch.optim.Adam(generator.parameters()),
                           optimizer_discriminator=torch.optim.Adam(discriminator.parameters()), epoch=1, step=1, config=record)  # fmt: skip
    trained_at_256 = FaceSynthesizer.from_checkpoint(path, device="cpu")
    points = np.random.default_rng(0).uniform(0.2, 0.8, size=(478, 3)).astype(np.float32)
    assert trained_at_256.crop_size == 256
    style = trained_at_256.landmark_style
    assert np.array_equal(trained_at_256.landmark_images([points], 512), landmark_images([points], 256, style))
    unrecorded = FaceSynthesizer(generator, image_size=64, device="cpu", landmark_style=style)
    assert np.array_equal(unrecorded.landmark_images([points], 512), landmark_images([points], 512, style))
    assert synthesis.describe_checkpoint(path).training_data == record["data"]


def test_missing_checkpoint_says_where_to_get_one(stage01, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="NsLjQYey65") as error:
        anonymize_preprocessed(stage01, tmp_path, "ganonymization", checkpoint=None, progress=False)
    assert "02_train_pix2pix" in str(error.value) and "Sfle_etB1D" in str(error.value)
    with pytest.raises(ValueError, match="unknown method"):
        anonymize_preprocessed(stage01, tmp_path, "pixelate_everything", progress=False)


# --- external methods ------------------------------------------------------------------------------------


@pytest.fixture()
def external_name():
    name = "deepprivacy2_test"
    yield name
    EXTERNAL_METHODS.pop(name, None)


def test_external_folder_registration_and_missing_faces(stage01, tmp_path, external_name, astronaut) -> None:
    faces = ok_faces(stage01)
    ids = faces["face_id"].tolist()
    folder = tmp_path / "dp2_output"
    (folder / "all").mkdir(parents=True)
    rng = np.random.default_rng(0)
    made = {}
    for index, face_id in enumerate(ids[:-3]):  # the last three: missing, unreadable, ambiguous
        image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
        made[face_id] = image
        if index == 0:
            save_jpeg_with_exif(folder / f"{face_id}.jpg", image)
        else:
            Image.fromarray(image).save(folder / "all" / f"{face_id}.png")
    (folder / f"{ids[-2]}.png").write_bytes(b"")
    for sub in ("x", "y"):
        (folder / sub).mkdir()
        Image.fromarray(astronaut).save(folder / sub / f"{ids[-1]}.png")
    (folder / "notes.txt").write_text("not an image")

    assert register_external(external_name, folder) == folder.resolve()
    manifest = anonymize_preprocessed(stage01, tmp_path / "out", external_name, progress=False).set_index("face_id")
    assert manifest.index.tolist() == ids
    assert manifest.loc[ids[-3], "status"] == "missing" and manifest.loc[ids[-3], "face_path"] == ""
    assert manifest.loc[ids[-2], "status"] == "unreadable"
    assert manifest.loc[ids[-1], "status"] == "ambiguous"
    assert (manifest.loc[ids[:-3], "status"] == "ok").all()
    assert manifest.loc[ids[0], "source"] == f"{ids[0]}.jpg"
    assert manifest.loc[ids[1], "message"] == "resized from 256x256 to 512x512"
    written = np.asarray(Image.open(tmp_path / "out" / external_name / manifest.loc[ids[1], "face_path"]))
    assert written.shape == (512, 512, 3)
    assert np.abs(cv2.resize(written, (256, 256), interpolation=cv2.INTER_AREA).astype(int) - made[ids[1]]).mean() < 40
    assert_no_metadata(tmp_path / "out" / external_name / manifest.loc[ids[0], "face_path"])
    assert not (tmp_path / "out" / external_name / "all" / f"{ids[-3]}.png").exists()

    # the same folder passed directly gives the same statuses
    direct = anonymize_preprocessed(stage01, tmp_path / "out2", "ciagan", external_dir=folder, progress=False)
    assert direct["status"].tolist() == manifest["status"].tolist()
    with pytest.raises(ValueError, match="built-in"):
        register_external("pixel8", folder)


# --- photos: metadata and paste-back ----------------------------------------------------------------------


def test_outputs_carry_no_metadata_of_the_input(tmp_path, astronaut, checkpoint) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    save_jpeg_with_exif(photos / "astronaut.jpg", astronaut)
    for method, ckpt in (("pixel8", None), ("ganonymization", checkpoint)):
        result = anonymize_photos(photos, tmp_path / "out", method, checkpoint=ckpt, device="cpu", progress=False)
        written = [result.crops_dir / p for p in result.faces["face_path"]]
        written += [result.method_dir / p for p in result.photos["photo_path"]]
        assert len(written) == 2 and written[1] == tmp_path / "out" / method / "photo_000001.jpg"
        for path in written:
            assert_no_metadata(path)


def test_paste_back_replaces_only_the_face_region(tmp_path, astronaut) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut[:, 40:]).save(photos / "astronaut.png")  # not square: 512 x 472
    original = np.asarray(Image.open(photos / "astronaut.png"))
    result = anonymize_photos(photos, tmp_path / "out", "pixel8", progress=False)
    row = result.photos.iloc[0]
    assert (row["status"], row["n_faces"], row["n_pasted"]) == ("ok", 1, 1)
    pasted = np.asarray(Image.open(result.method_dir / row["photo_path"]))
    assert pasted.shape == original.shape

    stage01_dir = result.work_dir / PREPROCESS_FOLDER
    face = pd.read_csv(stage01_dir / "faces.csv").iloc[0]
    config = json.loads((stage01_dir / "config.json").read_text())
    matrix = alignment_from_record(
        (face.box_x0, face.box_y0, face.box_x1, face.box_y1), face.angle_degrees, margin=config["face_margin"], size=512
    )
    changed = (pasted != original).any(axis=2)
    x0, y0, x1, y1 = photo_region(matrix, 512, *original.shape[:2])
    outside = np.ones_like(changed)
    outside[y0:y1, x0:x1] = False
    assert not changed[outside].any()  # nothing outside the aligned square's footprint changes
    box_area = (face.box_x1 - face.box_x0) * (face.box_y1 - face.box_y0)
    assert changed.sum() > 0.5 * box_area  # the face itself is replaced

    # where the mask is fully on, the photo shows the anonymised face warped back (the geometry is right)
    anonymized = np.asarray(Image.open(result.crops_dir / "all" / f"{face.face_id}.png"))
    segmented = np.asarray(Image.open(stage01_dir / face.face_path))
    alpha = feathered_mask(head_mask(segmented))
    size = (original.shape[1], original.shape[0])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    back = cv2.warpAffine(anonymized, matrix, size, flags=flags)
    full = cv2.warpAffine(alpha, matrix, size, flags=flags) > 0.999
    assert full.sum() > 0.3 * box_area
    deviation = np.abs(pasted[full].astype(int) - back[full].astype(int))
    # equal up to OpenCV's 1/32-pixel warp quantisation, which differs slightly for the cropped warp
    assert deviation.mean() < 0.1 and np.percentile(deviation, 99) <= 1 and deviation.max() <= 8


def test_paste_back_puts_a_crop_then_rotate_face_where_it_came_from(tmp_path, astronaut) -> None:
    """The authors' alignment (crop, then rotate the crop) is undone by paste-back: the anonymised face lands on
    the face, and nothing outside the face's crop changes."""
    photos = tmp_path / "photos"
    photos.mkdir()
    tilted = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((256, 200), -20, 1.0), (512, 512))
    Image.fromarray(tilted).save(photos / "tilted.png")
    config = PreprocessConfig(alignment="crop_then_rotate")
    result = anonymize_photos(photos, tmp_path / "out", "pixel8", progress=False, preprocess_config=config)
    row = result.photos.iloc[0]
    assert (row["status"], row["n_pasted"]) == ("ok", 1)
    pasted = np.asarray(Image.open(result.method_dir / row["photo_path"]))
    stage01_dir = result.work_dir / PREPROCESS_FOLDER
    face = pd.read_csv(stage01_dir / "faces.csv").iloc[0]
    assert json.loads((stage01_dir / "config.json").read_text())["alignment"] == "crop_then_rotate"
    assert abs(face.angle_degrees) > 10
    matrix = alignment_from_record(
        (face.box_x0, face.box_y0, face.box_x1, face.box_y1), face.angle_degrees, margin=config.face_margin,
        size=512, alignment="crop_then_rotate", photo_shape=tilted.shape[:2],
    )  # fmt: skip
    anonymized = np.asarray(Image.open(result.crops_dir / "all" / f"{face.face_id}.png"))
    alpha = feathered_mask(head_mask(np.asarray(Image.open(stage01_dir / face.face_path))))
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    back = cv2.warpAffine(anonymized, matrix, (512, 512), flags=flags)
    full = cv2.warpAffine(alpha, matrix, (512, 512), flags=flags) > 0.999
    box_area = (face.box_x1 - face.box_x0) * (face.box_y1 - face.box_y0)
    assert full.sum() > 0.3 * box_area
    assert np.abs(pasted[full].astype(int) - back[full].astype(int)).mean() < 0.5  # the face is where it belongs
    changed = (pasted != tilted).any(axis=2)
    x0, y0, x1, y1 = photo_region(matrix, 512, 512, 512)
    outside = np.ones_like(changed)
    outside[y0:y1, x0:x1] = False
    assert not changed[outside].any()


def test_alignment_from_record_matches_a_fresh_detection(tmp_path, astronaut) -> None:
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    config = PreprocessConfig()
    faces = run_preprocess(tasks_from_folder(tmp_path), tmp_path / "out", config, n_workers=0, progress=False).faces
    ((_, steps),) = detect_and_process(astronaut, config)
    row = faces.iloc[0]
    matrix = alignment_from_record(
        (row.box_x0, row.box_y0, row.box_x1, row.box_y1), row.angle_degrees, margin=config.face_margin, size=config.image_size
    )
    corners = np.array([[0, 0], [512, 0], [0, 512], [512, 512]], dtype=np.float64)
    ours = corners @ matrix[:, :2].T + matrix[:, 2]
    fresh = corners @ steps.aligned.matrix[:, :2].T + steps.aligned.matrix[:, 2]
    assert np.abs(ours - fresh).max() < 0.1


def test_photo_without_a_detected_face_is_not_written(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(photos / "wall.png")
    result = anonymize_photos(photos, tmp_path / "out", "blur9", progress=False)
    assert result.photos.iloc[0]["status"] == "no_face" and result.photos.iloc[0]["photo_path"] == ""
    assert not (result.method_dir / "wall.png").exists()


def test_photos_come_out_whole_in_their_format_under_their_relative_paths_with_keep_names(tmp_path, astronaut) -> None:
    photos = tmp_path / "photos"
    (photos / "trip" / "day1").mkdir(parents=True)
    save_jpeg_with_exif(photos / "trip" / "day1" / "me.JPG", astronaut)
    Image.fromarray(astronaut[:, ::-1]).save(photos / "mirror.png")
    result = anonymize_photos(photos, tmp_path / "out", "pixel8", progress=False, keep_names=True)
    table = result.photos.set_index("source")
    assert table["status"].tolist() == ["ok"] * 2 and (table["n_pasted"] == 1).all()
    assert table.loc["trip/day1/me.JPG", "photo_path"] == "trip/day1/me.JPG"
    Image.fromarray(astronaut).save(tmp_path / "old.gif")  # read, but GIF is no format for a photo: written as PNG
    single = anonymize_photos(tmp_path / "old.gif", tmp_path / "out_gif", "pixel8", progress=False, keep_names=True)
    assert single.photos["photo_path"].tolist() == ["old.gif.png"]
    method_dir = tmp_path / "out" / "pixel8"
    with Image.open(method_dir / "trip" / "day1" / "me.JPG") as jpeg, Image.open(photos / "trip" / "day1" / "me.JPG") as original:
        assert jpeg.format == "JPEG" and jpeg.size == original.size
        reference = io.BytesIO()
        Image.fromarray(astronaut).save(reference, format="JPEG", quality=95)
        assert jpeg.quantization == Image.open(reference).quantization  # quality 95
    with Image.open(method_dir / "mirror.png") as png, Image.open(tmp_path / "out_gif" / "pixel8" / "old.gif.png") as converted:
        assert png.format == "PNG" and converted.format == "PNG"
        changed = (np.asarray(png) != astronaut[:, ::-1]).any(axis=2)
        assert 0.01 < changed.mean() < 0.5  # the face is replaced, the rest of the photo is the photo
    for path in (method_dir / "trip" / "day1" / "me.JPG", method_dir / "mirror.png"):
        assert_no_metadata(path)
    assert pd.read_csv(method_dir / "photos.csv")["photo_path"].tolist() == result.photos["photo_path"].tolist()
    assert not any(p.is_absolute() for p in map(Path, result.photos["photo_path"]))


def test_every_page_of_a_multi_page_photo_is_anonymised(tmp_path, astronaut) -> None:
    face = Image.fromarray(astronaut)
    face.save(tmp_path / "scan.tif", save_all=True, append_images=[face.transpose(Image.FLIP_LEFT_RIGHT)])
    result = anonymize_photos(tmp_path / "scan.tif", tmp_path / "out", "pixel8", progress=False)
    assert result.photos["photo_path"].tolist() == ["photo_000001.tif.frame0.png", "photo_000001.tif.frame1.png"]
    assert (result.photos["status"] == "ok").all() and (result.photos["n_pasted"] == 1).all()
    pages = [np.asarray(Image.open(tmp_path / "out" / "pixel8" / p)) for p in result.photos["photo_path"]]
    assert not np.array_equal(pages[0], pages[1])


def test_cli_one_photo_in_one_photo_out_as_the_readme_says(tmp_path, astronaut, capsys) -> None:
    photo = tmp_path / "jane_doe.jpg"
    Image.fromarray(astronaut).save(photo, quality=90)
    assert anonymize_cli.cli([str(photo), str(tmp_path / "kept"), "--method", "pixel8", "--keep-names", "--no-progress"]) == 0
    assert [p.name for p in (tmp_path / "kept" / "pixel8").glob("*.jpg")] == ["jane_doe.jpg"]
    assert anonymize_cli.cli([str(photo), str(tmp_path / "out"), "--method", "pixel8", "--no-progress"]) == 0
    written = tmp_path / "out" / "pixel8" / "photo_000001.jpg"  # a neutral name by default
    with Image.open(written) as image:
        assert image.format == "JPEG" and image.size == (512, 512)
        difference = np.abs(np.asarray(image, dtype=int) - np.asarray(Image.open(photo), dtype=int)).max(axis=2)
    face = pd.read_csv(default_work_dir(tmp_path / "out", photo) / PREPROCESS_FOLDER / "faces.csv").iloc[0]
    x0, y0, x1, y1 = (int(round(v)) for v in (face.box_x0, face.box_y0, face.box_x1, face.box_y1))
    inside = np.zeros_like(difference, dtype=bool)
    inside[y0:y1, x0:x1] = True
    assert difference[inside].mean() > 15  # the face is pixelated
    assert np.median(difference[~inside]) <= 3  # the rest is the photo, up to JPEG re-encoding
    out = capsys.readouterr().out
    assert "1 of 1 photos written" in out and str(tmp_path / "out" / "pixel8") in out


def test_cli_names_photos_it_did_not_write(tmp_path, astronaut, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "face.png")
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(folder / "wall.png")
    assert anonymize_cli.cli([str(folder), str(tmp_path / "out"), "--method", "blur9", "--no-progress"]) == 3  # not all written
    out = capsys.readouterr().out
    assert "1 of 2 photos written" in out and "not written: wall.png (no_face" in out and "WARNING: 1 of 2" in out


def test_ganonymization_uses_the_published_generator_path_by_default(
    tmp_path, astronaut, checkpoint, monkeypatch, capsys
) -> None:
    from ganon_utils.weights import default_generator_checkpoint

    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path / "weights"))
    photo = tmp_path / "me.png"
    Image.fromarray(astronaut).save(photo)
    args = [str(photo), str(tmp_path / "out"), "--method", "ganonymization", "--device", "cpu", "--no-progress"]
    assert anonymize_cli.cli(args) == 2
    message = capsys.readouterr().err
    assert str(default_generator_checkpoint()) in message and "fetch-weights ganonymization_publication" in message
    default_generator_checkpoint().parent.mkdir(parents=True)
    shutil.copy(checkpoint, default_generator_checkpoint())
    assert anonymize_cli.cli(args) == 0
    assert (tmp_path / "out" / "ganonymization" / "photo_000001.png").is_file()


def test_a_photos_folder_made_with_other_settings_is_refused(tmp_path, astronaut, capsys) -> None:
    photo = tmp_path / "me.png"
    Image.fromarray(astronaut).save(photo)
    out = tmp_path / "out"
    assert anonymize_cli.cli([str(photo), str(out), "--method", "pixel8", "--no-progress"]) == 0
    first = (out / "pixel8" / "photo_000001.png").read_bytes()
    assert anonymize_cli.cli([str(photo), str(out), "--method", "pixel8", "--size", "256", "--no-progress"]) == 2
    assert "image_size: 512 -> 256" in capsys.readouterr().err
    assert anonymize_cli.cli([str(photo), str(out), "--method", "pixel8", "--keep-names", "--no-progress"]) == 2
    assert "names: 'neutral' -> '(not set)'" in capsys.readouterr().err
    assert (out / "pixel8" / "photo_000001.png").read_bytes() == first  # nothing of the first run was touched


def test_a_broken_checkpoint_is_refused_and_does_not_block_a_good_one(stage01, tmp_path, checkpoint, capsys) -> None:
    broken = tmp_path / "diverged.pt"
    state = torch.load(checkpoint, weights_only=True)
    state["generator"] = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state["generator"].items()
    }
    torch.save(state, broken)
    out = tmp_path / "out"
    args = [str(stage01), str(out), "--method", "ganonymization", "--device", "cpu", "--no-progress"]
    assert anonymize_cli.cli([*args, "--checkpoint", str(broken)]) == 2
    assert "NaN or infinite" in capsys.readouterr().err
    assert not list((out / "ganonymization").rglob("*.png"))  # no black face passes for a result
    assert anonymize_cli.cli([*args, "--checkpoint", str(checkpoint)]) == 0  # the same folder, a good checkpoint
    manifest = pd.read_csv(out / "ganonymization" / "manifest.csv")
    assert (manifest["status"] == "ok").sum() == len(ok_faces(stage01))


def test_a_generator_that_outputs_nan_stops_the_stage(monkeypatch) -> None:
    synthesizer = FaceSynthesizer(GeneratorUNet(num_downs=5, base_channels=8), image_size=64, device="cpu")
    monkeypatch.setattr(synthesizer, "_network", lambda x: torch.full_like(x, float("nan")))
    with pytest.raises(RuntimeError, match="NaN or infinite"):
        synthesizer.synthesize(np.zeros((2, 64, 64, 3), np.uint8), 64)


def test_no_original_face_lands_in_the_output_folder(tmp_path, astronaut) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "me.png")
    out = tmp_path / "out"
    for output in ("photos", "crops"):
        result = anonymize_photos(photos, out, "blur9" if output == "photos" else "pixel8", output=output, progress=False)
        assert out not in result.work_dir.parents and (result.work_dir / PREPROCESS_FOLDER / "faces.csv").is_file()
        assert (result.work_dir.stat().st_mode & 0o077) == 0  # private to its owner
    originals = {p.read_bytes() for p in (result.work_dir / PREPROCESS_FOLDER / "faces").rglob("*.png")}
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written and not any(p.read_bytes() in originals for p in written)
    assert {p.relative_to(out).parts[0] for p in written} == {"blur9", "pixel8", ".lock"}
    for table in (out / "blur9" / "photos.csv", out / "pixel8" / "manifest.csv"):
        text = table.read_text()
        assert str(tmp_path) not in text  # relative paths only
    public = pd.read_csv(out / "blur9" / "photos.csv", dtype=str, keep_default_na=False)
    assert public.columns.tolist() == PUBLIC_PHOTO_COLUMNS and public["photo"].tolist() == ["photo_000001"]
    assert "me" not in "".join(public["photo_path"]) and not [p for p in out.rglob("*") if "me." in p.name]
    private = pd.read_csv(result.work_dir / "photos.csv", dtype=str)  # which input became which photo
    assert private[["source", "photo_path"]].values.tolist() == [["me.png", "photo_000001.png"]]


def test_a_replaced_photo_is_done_again_and_two_folders_never_share_an_output(tmp_path, astronaut, capsys) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    Image.fromarray(astronaut).save(a / "person.png")
    Image.fromarray(astronaut[:, ::-1]).save(b / "person.png")  # another photo, the same name
    out = tmp_path / "out"
    assert anonymize_cli.cli([str(a), str(out), "--method", "pixel8", "--no-progress"]) == 0
    first = np.asarray(Image.open(out / "pixel8" / "photo_000001.png"))
    assert anonymize_cli.cli([str(b), str(out), "--method", "pixel8", "--no-progress"]) == 2
    assert "another input folder" in capsys.readouterr().err
    assert np.array_equal(np.asarray(Image.open(out / "pixel8" / "photo_000001.png")), first)  # A's result, not served for B
    assert anonymize_cli.cli([str(b), str(tmp_path / "out_b"), "--method", "pixel8", "--no-progress"]) == 0
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "out_b" / "pixel8" / "photo_000001.png")), first)

    # the same name, new content: the photo is made again from the new bytes
    Image.fromarray(astronaut[:, ::-1]).save(a / "person.png")
    assert anonymize_cli.cli([str(a), str(out), "--method", "pixel8", "--no-progress"]) == 0
    again = np.asarray(Image.open(out / "pixel8" / "photo_000001.png"))
    assert np.array_equal(again, np.asarray(Image.open(tmp_path / "out_b" / "pixel8" / "photo_000001.png")))
    table = pd.read_csv(default_work_dir(out, a) / "photos.csv", dtype=str)  # the private table
    assert table["photo_path"].tolist() == ["photo_000001.png"]  # the same name: no stale copy beside it
    assert table["source_sha256"].tolist() == [hashlib.sha256((a / "person.png").read_bytes()).hexdigest()]


def test_a_face_whose_stage01_input_changed_is_made_again(stage01, tmp_path) -> None:
    copy = tmp_path / "stage01"
    shutil.copytree(stage01, copy)
    out = tmp_path / "out"
    first = anonymize_preprocessed(copy, out, "blur9", progress=False).set_index("face_id")
    face_id = first.index[first["status"] == "ok"][0]
    face_file = copy / ok_faces(copy).set_index("face_id").loc[face_id, "face_path"]
    before = (out / "blur9" / first.loc[face_id, "face_path"]).read_bytes()
    pixels = np.asarray(Image.open(face_file)).copy()
    pixels[:, :, 0] = 255 - pixels[:, :, 0]
    Image.fromarray(pixels).save(face_file)  # stage 01 redid this face
    second = anonymize_preprocessed(copy, out, "blur9", progress=False).set_index("face_id")
    assert (out / "blur9" / second.loc[face_id, "face_path"]).read_bytes() != before
    assert second.loc[face_id, "source_sha256"] == hashlib.sha256(face_file.read_bytes()).hexdigest()
    others = second.index[(second.index != face_id) & (second["status"] == "ok")]
    assert (second.loc[others, "source_sha256"] == first.loc[others, "source_sha256"]).all()


def test_a_killed_run_leaves_nothing_a_rerun_trusts_and_its_temporaries_are_removed(stage01, tmp_path) -> None:
    out = tmp_path / "out"
    done = anonymize_preprocessed(stage01, out, "pixel8", progress=False)
    method_dir = out / "pixel8"
    leftover = method_dir / "all" / ".orig_face.png.0123456789ab.tmp.png"
    leftover.write_bytes(b"a complete original face crop")
    victim = method_dir / done.loc[done["status"] == "ok", "face_path"].iloc[0]
    victim.unlink()  # killed before this face was written
    rows = pd.read_csv(method_dir / "manifest.csv", dtype=str)
    rows.loc[rows["face_path"] == victim.relative_to(method_dir).as_posix(), "status"] = "pending"
    rows.to_csv(method_dir / "manifest.csv", index=False)
    again = anonymize_preprocessed(stage01, out, "pixel8", progress=False)
    assert not leftover.exists() and victim.is_file()
    assert again["status"].tolist() == done["status"].tolist()


def test_a_second_run_into_a_busy_folder_stops_with_a_clear_message(tmp_path, astronaut, capsys) -> None:
    from ganon_utils.atomic_files import folder_lock

    photo = tmp_path / "me.png"
    Image.fromarray(astronaut).save(photo)
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert anonymize_cli.cli([str(photo), str(out), "--method", "pixel8", "--no-progress"]) == 2
        assert "being written by another run" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(out), folder_lock(out):  # re-entrant within one process; free again once the holder died
        pass
    assert anonymize_cli.cli([str(photo), str(out), "--method", "pixel8", "--no-progress"]) == 0


LOCK_HOLDER = """
import sys, time
from ganon_utils.atomic_files import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


# --- command line and resuming ------------------------------------------------------------------------------


def test_cli_single_photo_folder_and_stage01_folder(tmp_path, astronaut, demo_dir, checkpoint, capsys) -> None:
    from ganon_utils.cli import main

    photo = tmp_path / "me.png"
    Image.fromarray(astronaut).save(photo)
    out = tmp_path / "out"
    args = ["--checkpoint", str(checkpoint), "--device", "cpu", "--no-progress"]
    assert main(["anonymize", str(photo), str(out), "--method", "ganonymization", *args]) == 0
    assert np.asarray(Image.open(out / "ganonymization" / "photo_000001.png")).shape == astronaut.shape  # the whole photo
    assert "1 of 1 photos written" in capsys.readouterr().out

    folder = tmp_path / "group"
    folder.mkdir()
    shutil.copy(next((demo_dir / "groups").iterdir()), folder / "group.jpg")
    assert anonymize_cli.cli([str(folder), str(out), "--method", "pixel16", "--crops", "--no-progress"]) == 0
    manifest = pd.read_csv(out / "pixel16" / "manifest.csv")
    assert len(manifest) >= 3 and (manifest["status"] == "ok").all()
    assert (out / "pixel16" / manifest["face_path"].iloc[0]).is_file() and not (out / "pixel16" / "group.jpg").exists()

    # a finished stage-01 folder is used as is
    stage01 = default_work_dir(out, folder) / PREPROCESS_FOLDER
    assert anonymize_cli.cli([str(stage01), str(tmp_path / "out2"), "--method", "blur9", "--no-progress"]) == 0
    assert len(pd.read_csv(tmp_path / "out2" / "blur9" / "manifest.csv")) == len(manifest)


def test_cli_errors(tmp_path, astronaut, capsys) -> None:
    photo = tmp_path / "me.png"
    Image.fromarray(astronaut).save(photo)
    assert anonymize_cli.cli([str(photo), str(tmp_path / "out"), "--method", "ganonymization"]) == 2
    message = capsys.readouterr().err
    assert "NsLjQYey65" in message and "Sfle_etB1D" in message and "02_train_pix2pix" in message
    assert not (tmp_path / "out").exists()  # nothing ran
    assert anonymize_cli.cli([str(tmp_path), str(tmp_path / "inside"), "--method", "pixel8"]) == 2
    assert anonymize_cli.cli([str(photo), str(tmp_path / "out"), "--method", "no_such_method"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_resume_skips_written_faces(stage01, tmp_path, checkpoint, count_checkpoint_reads) -> None:
    out = tmp_path / "out"
    first = anonymize_preprocessed(stage01, out, "pixel8", progress=False)
    files = sorted((out / "pixel8" / "all").iterdir())
    stamps = {p.name: p.stat().st_mtime_ns for p in files}
    files[0].unlink()
    second = anonymize_preprocessed(stage01, out, "pixel8", progress=False)
    assert second.equals(first)
    for path in files[1:]:
        assert path.stat().st_mtime_ns == stamps[path.name]  # untouched
    assert files[0].is_file()

    anonymize_preprocessed(stage01, out, "ganonymization", checkpoint=checkpoint, device="cpu", progress=False)
    before = {p.name: p.read_bytes() for p in (out / "ganonymization" / "all").iterdir()}
    assert len(count_checkpoint_reads) == 1
    again = anonymize_preprocessed(stage01, out, "ganonymization", checkpoint=checkpoint, device="cpu", progress=False)
    assert len(count_checkpoint_reads) == 1  # nothing left to do: the generator is not even loaded
    assert (again["status"] == "ok").all()

    other = tiny_checkpoint(tmp_path / "other.pt", seed=5)
    with pytest.raises(ValueError, match="checkpoint_sha256"):
        anonymize_preprocessed(stage01, out, "ganonymization", checkpoint=other, device="cpu", progress=False)
    anonymize_preprocessed(stage01, out, "ganonymization", checkpoint=other, device="cpu", replace_stale=True, progress=False)
    after = {p.name: p.read_bytes() for p in (out / "ganonymization" / "all").iterdir()}
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in before)


# --- notebook 03 ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_notebook_03_runs_with_papermill(stage01, checkpoint, tmp_path) -> None:
    import papermill

    results, output_root = tmp_path / "results", tmp_path / "anonymized"
    output = output_root / stage01.name
    parameters = {
        "datasets": [stage01.name], "preprocess_root": str(stage01.parent), "output_root": str(output_root),
        "results_dir": str(results),
        "checkpoint": str(checkpoint), "device": "cpu", "n_example_faces": 2, "batch_size": 4,
    }  # fmt: skip
    execute_notebook("03_anonymize", tmp_path / "03.ipynb", parameters)  # the report is checked too
    n_faces = len(ok_faces(stage01))
    summary = json.loads((results / "summary.json").read_text())
    assert summary["figures"] == [f"figures/fig3_anonymization_examples_{stage01.name}.png"]
    assert summary["tables"][0]["columns"][:3] == ["dataset", "method", "ok"]
    counts = pd.read_csv(results / "tables" / "status_counts.csv")
    assert counts["method"].tolist() == ["ganonymization", "pixel8", "pixel16", "blur9", "blur17"]
    assert (counts["total"] == n_faces).all() and (counts["ok"] == n_faces).all()
    assert counts["dataset"].tolist() == [stage01.name] * 5
    assert (results / "figures" / f"fig3_anonymization_examples_{stage01.name}.png").is_file()
    for method in counts["method"]:
        assert len(list((output / method / "all").glob("*.png"))) == n_faces

    parameters["checkpoint"] = str(tmp_path / "no_such.pt")
    with pytest.raises(papermill.PapermillExecutionError, match="02_train_pix2pix"):
        papermill.execute_notebook(
            str(REPO_ROOT / "notebooks" / "03_anonymize.ipynb"), str(tmp_path / "03_fail.ipynb"),
            parameters=parameters, kernel_name="python3", cwd=str(REPO_ROOT), progress_bar=False,
        )  # fmt: skip


def test_bf16_precision_is_close_to_fp32_and_recorded(stage01, checkpoint, tmp_path) -> None:
    faces = ok_faces(stage01)
    landmarks = [np.load(stage01 / p) for p in faces["landmarks_path"].head(2)]
    fp32 = FaceSynthesizer.from_checkpoint(checkpoint, device="cpu")(landmarks, 256).astype(int)
    bf16 = FaceSynthesizer.from_checkpoint(checkpoint, device="cpu", precision="bf16")(landmarks, 256).astype(int)
    assert bf16.shape == fp32.shape
    assert np.abs(bf16 - fp32).mean() < 4  # a few grey levels, not another face
    with pytest.raises(ValueError, match="precision"):
        FaceSynthesizer.from_checkpoint(checkpoint, device="cpu", precision="fp16")
    anonymize_preprocessed(stage01, tmp_path, "ganonymization", checkpoint=checkpoint, device="cpu", progress=False)
    with pytest.raises(
        ValueError, match=r"settings \(precision: '\(not set\)' -> 'bf16'\)"
    ):  # fp32 (the default, unrecorded) not continued in bf16
        anonymize_preprocessed(
            stage01, tmp_path, "ganonymization", checkpoint=checkpoint, device="cpu", progress=False, precision="bf16"
        )


def test_pad_batch_appends_zero_items_only_when_short() -> None:
    batch = np.full((2, 4, 4, 3), 7, np.uint8)
    padded = synthesis.pad_batch(batch, 5)
    assert padded.shape == (5, 4, 4, 3) and padded.dtype == np.uint8
    assert (padded[:2] == 7).all() and (padded[2:] == 0).all()
    assert synthesis.pad_batch(batch, 2) is batch


def test_compiled_generator_gives_the_same_faces_and_compiles_once(stage01, checkpoint, tmp_path) -> None:
    from torch._dynamo.utils import counters

    n_faces = len(ok_faces(stage01))
    batch_size = next(b for b in (3, 4, 5, 6) if n_faces % b)  # a last batch shorter than the others
    eager = anonymize_preprocessed(stage01, tmp_path / "eager", "ganonymization", checkpoint=checkpoint,
                                   device="cpu", progress=False, batch_size=batch_size)  # fmt: skip
    graphs_before = counters["stats"]["unique_graphs"]
    compiled = anonymize_preprocessed(stage01, tmp_path / "compiled", "ganonymization", checkpoint=checkpoint,
                                      device="cpu", progress=False, batch_size=batch_size, compile=True)  # fmt: skip
    assert counters["stats"]["unique_graphs"] - graphs_before == 1  # the short last batch was padded, not recompiled
    assert compiled["status"].tolist() == eager["status"].tolist()
    written = compiled[compiled["face_path"] != ""]["face_path"]
    assert len(written) == n_faces
    for face_path in written:
        a = np.asarray(Image.open(tmp_path / "compiled" / "ganonymization" / face_path), dtype=int)
        b = np.asarray(Image.open(tmp_path / "eager" / "ganonymization" / face_path), dtype=int)
        assert np.abs(a - b).max() <= 1  # the same faces, up to rounding


def test_cli_passes_compile_and_precision_to_the_stage(stage01, tmp_path, monkeypatch) -> None:
    calls: list[dict] = []

    def recording(preprocess_dir, output_dir, method, **kwargs):
        calls.append(kwargs)
        return pd.DataFrame({"status": ["ok"]})

    monkeypatch.setattr(anonymize_cli, "anonymize_preprocessed", recording)
    assert anonymize_cli.cli([str(stage01), str(tmp_path), "--method", "pixel8", "--compile", "--precision", "bf16"]) == 0
    assert anonymize_cli.cli([str(stage01), str(tmp_path), "--method", "pixel8"]) == 0
    assert anonymize_cli.cli([str(stage01), str(tmp_path), "--method", "pixel8", "--no-compile"]) == 0
    assert [(c["compile"], c["precision"]) for c in calls] == [(True, "bf16"), ("auto", "fp32"), (False, "fp32")]
    with pytest.raises(SystemExit):  # one or the other
        anonymize_cli.build_parser().parse_args([str(stage01), str(tmp_path), "--compile", "--no-compile"])


def test_auto_compile_needs_enough_faces_and_a_compiler(monkeypatch) -> None:
    cpu = torch.device("cpu")
    threshold = synthesis.AUTO_COMPILE_MIN_FACES
    monkeypatch.setattr(synthesis, "inductor_available", lambda device: True)
    assert not synthesis.resolve_compile("auto", threshold - 1, cpu)
    assert synthesis.resolve_compile("auto", threshold, cpu)
    assert synthesis.resolve_compile(True, 1, cpu) and not synthesis.resolve_compile(False, 10**6, cpu)
    assert not synthesis.resolve_compile("auto", 10**6, torch.device("cuda"))  # unmeasured there: eager
    monkeypatch.setattr(synthesis, "inductor_available", lambda device: False)
    assert not synthesis.resolve_compile("auto", 10**6, cpu)
    assert synthesis.resolve_compile(True, 1, cpu)  # an explicit choice is kept (and fails loudly if it must)
    with pytest.raises(ValueError, match="auto"):
        synthesis.resolve_compile("yes", 10, cpu)  # type: ignore[arg-type]


def test_inductor_available_looks_for_a_cpp_compiler_on_path(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not synthesis.inductor_available(torch.device("cpu"))
    compiler = tmp_path / "g++"
    compiler.write_text("#!/bin/sh\n")
    compiler.chmod(0o755)
    assert synthesis.inductor_available(torch.device("cpu"))


def test_auto_compiles_only_for_enough_pending_faces(stage01, checkpoint, tmp_path, monkeypatch) -> None:
    compiled: list[int] = []

    def counting(generator):
        compiled.append(1)
        return generator  # eager underneath: only the decision is under test

    monkeypatch.setattr(synthesis, "compile_generator", counting)
    monkeypatch.setattr(synthesis, "inductor_available", lambda device: True)
    n_faces = len(ok_faces(stage01))
    monkeypatch.setattr(synthesis, "AUTO_COMPILE_MIN_FACES", n_faces + 1)
    anonymize_preprocessed(stage01, tmp_path / "few", "ganonymization", checkpoint=checkpoint, device="cpu", progress=False)
    assert compiled == []
    monkeypatch.setattr(synthesis, "AUTO_COMPILE_MIN_FACES", n_faces)
    anonymize_preprocessed(stage01, tmp_path / "enough", "ganonymization", checkpoint=checkpoint, device="cpu", progress=False)
    assert compiled == [1]
    anonymize_preprocessed(stage01, tmp_path / "enough", "ganonymization", checkpoint=checkpoint, device="cpu", progress=False)
    assert compiled == [1]  # a resumed folder with nothing left to make loads no generator at all


def no_cpp_compiler():
    """Inductor pointed at a C++ compiler that does not exist (torch's own config patch, undone on exit)."""
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()
    return inductor_config.patch({"cpp.cxx": (None, "/nonexistent/g++")})


def test_compile_failure_says_how_to_run_without_it() -> None:
    synthesizer = FaceSynthesizer(GeneratorUNet(num_downs=5, base_channels=8), image_size=64, device="cpu", compile=True)
    with no_cpp_compiler(), pytest.raises(RuntimeError, match="(?s)compiler.*without compile.*--no-compile"):
        synthesizer.synthesize(np.zeros((2, 64, 64, 3), np.uint8), 64)
    torch._dynamo.reset()


def test_a_failed_automatic_compile_warns_and_runs_eager() -> None:
    torch.manual_seed(0)
    generator = GeneratorUNet(num_downs=5, base_channels=8)
    eager = FaceSynthesizer(generator, image_size=64, device="cpu")
    synthesizer = FaceSynthesizer(generator, image_size=64, device="cpu", compile=True, eager_if_compile_fails=True)
    landmarks = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    with no_cpp_compiler(), pytest.warns(RuntimeWarning, match="running it eager"):
        faces = synthesizer.synthesize(landmarks, 64)
    assert not synthesizer.compiled
    np.testing.assert_array_equal(faces, eager.synthesize(landmarks, 64))
    torch._dynamo.reset()


def test_photos_named_alike_in_two_subfolders_give_two_outputs(tmp_path, astronaut) -> None:
    folder = tmp_path / "in"
    (folder / "A").mkdir(parents=True)
    (folder / "B").mkdir()
    Image.fromarray(astronaut).save(folder / "A" / "person.png")
    Image.fromarray(astronaut[:, ::-1]).save(folder / "B" / "person.png")
    for keep_names, expected in ((False, ["photo_000001.png", "photo_000002.png"]), (True, ["A/person.png", "B/person.png"])):
        out = tmp_path / f"out_{keep_names}"
        result = anonymize_photos(folder, out, "pixel8", progress=False, keep_names=keep_names)
        assert sorted(result.photos["photo_path"]) == expected and (result.photos["status"] == "ok").all()
        first, second = (np.asarray(Image.open(out / "pixel8" / p)) for p in sorted(result.photos["photo_path"]))
        assert not np.array_equal(first, second)  # each its own photo's result
