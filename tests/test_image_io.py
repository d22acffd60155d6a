"""Reading awkward images into upright 8-bit RGB, metadata-free PNG writing, ids and listing."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage import data as skdata

from ganon_utils import atomic_files, image_io
from ganon_utils.image_io import (
    IMAGE_SUFFIXES,
    ImageLoadError,
    ImageStatus,
    LoadedImage,
    encode_png,
    image_id_for,
    list_images,
    load_image,
    save_png,
)
from tests.bad_inputs import (
    CORPUS,
    PREPROCESS_STATUSES,
    READ_STATUSES,
    alpha_mask,
    face_grey16,
    face_rgb16,
    make_bad_input_corpus,
    no_face_texture,
)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return skdata.astronaut()


@pytest.fixture(scope="module")
def corpus(face: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    expected = make_bad_input_corpus(folder, face)
    assert expected == READ_STATUSES
    return folder


def _status_of(path: Path, **limits: int) -> str:
    try:
        load_image(path, **limits)
    except ImageLoadError as error:
        return error.status.value
    return ImageStatus.OK.value


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _png_bytes(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **options)
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# The corpus: every file yields exactly its status
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_corpus_file_yields_its_status(corpus: Path, case) -> None:
    assert _status_of(corpus / case.name) == case.read_status


def test_corpus_statuses_are_known_image_statuses() -> None:
    known = {status.value for status in ImageStatus}
    assert set(READ_STATUSES.values()) <= known
    assert {name for name, status in PREPROCESS_STATUSES.items() if status != READ_STATUSES[name]} == {"no_face.png"}


def test_readable_corpus_files_give_rgb_uint8_contiguous(corpus: Path) -> None:
    for name, status in READ_STATUSES.items():
        if status != "ok":
            continue
        loaded = load_image(corpus / name)
        assert isinstance(loaded, LoadedImage)
        assert loaded.rgb.dtype == np.uint8 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3, name
        assert loaded.rgb.flags.c_contiguous, name


def test_corpus_is_deterministic(face: np.ndarray, corpus: Path, tmp_path: Path) -> None:
    make_bad_input_corpus(tmp_path, face)
    for name in READ_STATUSES:
        assert (tmp_path / name).read_bytes() == (corpus / name).read_bytes(), name


def test_error_names_file_and_cause(corpus: Path) -> None:
    with pytest.raises(ImageLoadError) as caught:
        load_image(corpus / "truncated.jpg")
    assert caught.value.status is ImageStatus.TRUNCATED
    assert "truncated.jpg" in str(caught.value) and "truncated" in caught.value.cause
    assert caught.value.path == corpus / "truncated.jpg"


def test_inputs_are_byte_identical_after_loading(corpus: Path) -> None:
    def digests() -> dict[str, tuple[str, int]]:
        return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in sorted(corpus.iterdir())}

    before = digests()
    for name in READ_STATUSES:
        _status_of(corpus / name)
    assert digests() == before


def test_every_opened_handle_is_closed_and_read_only(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[io.BufferedReader] = []
    real_open = image_io._open_readonly

    def recording_open(path: Path) -> io.BufferedReader:
        handle = real_open(path)
        opened.append(handle)  # the reference keeps garbage collection from closing it for us
        return handle

    monkeypatch.setattr(image_io, "_open_readonly", recording_open)
    for name in READ_STATUSES:
        _status_of(corpus / name)
    assert len(opened) == sum(1 for name in READ_STATUSES if (corpus / name).stat().st_size > 0)
    assert all(handle.closed for handle in opened)
    assert all(handle.mode == "rb" for handle in opened)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_no_file_handle_left_open(corpus: Path) -> None:
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for _ in range(3):
            for name in READ_STATUSES:
                _status_of(corpus / name)
        gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


# ---------------------------------------------------------------------------
# Conversions, checked against the face the files were made from
# ---------------------------------------------------------------------------


def test_exif_rotated_jpeg_loads_upright(face: np.ndarray, corpus: Path) -> None:
    loaded = load_image(corpus / "exif_rotated.jpg")
    assert loaded.conversions == ("exif_transpose:6",)
    assert loaded.rgb.shape == face.shape
    assert _mean_abs(loaded.rgb, face) < 4.0  # JPEG noise only
    for wrong in (np.rot90(face, 1), np.rot90(face, -1), np.rot90(face, 2)):
        assert _mean_abs(loaded.rgb, wrong) > 20.0


# Stored pixels for each EXIF orientation, derived from the EXIF definition
# (display = orientation transform applied to the stored pixels).
_STORED_FOR_ORIENTATION = {
    1: lambda up: up,
    2: lambda up: up[:, ::-1],
    3: lambda up: np.rot90(up, 2),
    4: lambda up: up[::-1],
    5: lambda up: up.transpose(1, 0, 2),
    6: lambda up: np.rot90(up, 1),
    7: lambda up: np.rot90(up.transpose(1, 0, 2), 2),
    8: lambda up: np.rot90(up, -1),
}


@pytest.mark.parametrize("orientation", sorted(_STORED_FOR_ORIENTATION))
def test_every_exif_orientation_gives_upright_pixels(face: np.ndarray, tmp_path: Path, orientation: int) -> None:
    upright = np.ascontiguousarray(face[40:440, 100:400])  # not square: a wrong turn changes the shape
    stored = np.ascontiguousarray(_STORED_FOR_ORIENTATION[orientation](upright))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    path.write_bytes(_png_bytes(stored, exif=exif.tobytes()))
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb, upright)
    assert loaded.conversions == (() if orientation == 1 else (f"exif_transpose:{orientation}",))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_malformed_exif_keeps_image_readable(face: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "bad_exif.jpg"
    buffer = io.BytesIO()
    Image.fromarray(face).save(buffer, format="JPEG", quality=90, exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff")
    path.write_bytes(buffer.getvalue())
    loaded = load_image(path)
    assert loaded.rgb.shape == face.shape and _mean_abs(loaded.rgb, face) < 4.0


def test_grey16_png_scales_full_range_to_8bit(face: np.ndarray, corpus: Path) -> None:
    values = face_grey16(face)
    loaded = load_image(corpus / "grey16.png")
    expected = np.rint(values / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(loaded.rgb[..., 0], expected)
    np.testing.assert_array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])
    assert loaded.conversions == ("16bit_to_8bit", "grey_to_rgb")


@pytest.mark.parametrize("container", ["png", "tiff_little", "tiff_big", "tiff_int32"])
def test_16bit_ramp_maps_0_to_0_and_65535_to_255(tmp_path: Path, container: str) -> None:
    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    if container == "png":
        image, fmt = Image.fromarray(ramp), "PNG"
    elif container == "tiff_little":
        image, fmt = Image.fromarray(ramp), "TIFF"
    elif container == "tiff_big":
        image, fmt = Image.fromarray(ramp.astype(">u2")), "TIFF"
    else:
        image, fmt = Image.fromarray(ramp.astype(np.int32)), "TIFF"
    path = tmp_path / f"ramp.{fmt.lower()}"
    image.save(path, format=fmt)
    grey = load_image(path).rgb[..., 0]
    np.testing.assert_array_equal(grey, np.rint(ramp / 257.0).astype(np.uint8))
    assert grey.min() == 0 and grey.max() == 255


def test_int32_outside_16bit_range_is_stretched(tmp_path: Path) -> None:
    values = np.linspace(-100_000, 300_000, 40 * 40).astype(np.int32).reshape(40, 40)
    path = tmp_path / "wide.tif"
    Image.fromarray(values).save(path, format="TIFF")
    loaded = load_image(path)
    assert loaded.conversions == ("int32_minmax_to_8bit", "grey_to_rgb")
    grey = loaded.rgb[..., 0].astype(int)
    assert grey.min() == 0 and grey.max() == 255 and np.all(np.diff(grey.ravel()) >= 0)


def test_float_image_in_unit_range_scales_by_255(tmp_path: Path) -> None:
    values = np.linspace(0.0, 1.0, 40 * 40, dtype=np.float32).reshape(40, 40)
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path, format="TIFF")
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded.rgb[..., 1], np.rint(values * 255).astype(np.uint8))
    assert loaded.conversions == ("float_to_8bit", "grey_to_rgb")


def test_rgb16_png_maps_to_nearest_8bit(face: np.ndarray, corpus: Path) -> None:
    values = face_rgb16(face)
    loaded = load_image(corpus / "rgb16.png")
    expected = np.rint(values / 257.0).astype(np.int16)
    assert np.abs(loaded.rgb.astype(np.int16) - expected).max() <= 1
    assert loaded.conversions == ("16bit_to_8bit",)


def test_cmyk_jpeg_round_trips_to_original_colours(face: np.ndarray, corpus: Path) -> None:
    loaded = load_image(corpus / "cmyk.jpg")
    assert loaded.conversions == ("cmyk_to_rgb",)
    assert _mean_abs(loaded.rgb, face) < 3.0
    channel_means = loaded.rgb.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(channel_means, face.reshape(-1, 3).mean(axis=0), atol=2.0)


def test_rgba_composites_on_black(face: np.ndarray, corpus: Path) -> None:
    alpha = alpha_mask(*face.shape[:2]).astype(np.float64)[..., None]
    loaded = load_image(corpus / "rgba.png")
    expected = np.rint(face * alpha / 255.0)
    assert np.abs(loaded.rgb - expected).max() <= 1
    assert loaded.conversions == ("alpha_composited_on_black",)
    assert np.all(loaded.rgb[0, 0] == 0)  # transparent corner -> black
    centre = face.shape[0] // 2, face.shape[1] // 2
    np.testing.assert_array_equal(loaded.rgb[centre], face[centre])  # opaque face unchanged
    assert np.any((alpha > 0) & (alpha < 255))  # the soft edge was exercised


def test_grey_and_palette_convert_close_to_original(face: np.ndarray, corpus: Path) -> None:
    grey = load_image(corpus / "grey.jpg")
    assert grey.conversions == ("grey_to_rgb",)
    assert np.array_equal(grey.rgb[..., 0], grey.rgb[..., 1]) and np.array_equal(grey.rgb[..., 1], grey.rgb[..., 2])
    luminance = face.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert float(np.abs(grey.rgb[..., 0] - luminance).mean()) < 3.0
    palette = load_image(corpus / "palette.png")
    assert palette.conversions == ("palette_to_rgb",)
    assert _mean_abs(palette.rgb, face) < 6.0


def test_palette_with_transparency_and_la_composite_on_black(tmp_path: Path) -> None:
    pixels = np.full((40, 40), 200, dtype=np.uint8)
    alpha = np.zeros((40, 40), dtype=np.uint8)
    alpha[:, 20:] = 255
    la_path = tmp_path / "la.png"
    Image.fromarray(np.dstack([pixels, alpha])).save(la_path)  # mode LA
    la = load_image(la_path)
    assert la.conversions == ("grey_to_rgb", "alpha_composited_on_black")
    assert np.all(la.rgb[:, :20] == 0) and np.all(la.rgb[:, 20:] == 200)

    palette = Image.new("P", (40, 40), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * (3 * 254))
    palette.paste(0, (0, 0, 20, 40))
    p_path = tmp_path / "p.png"
    palette.save(p_path, transparency=1)  # index 1 (the green) is transparent
    loaded = load_image(p_path)
    assert loaded.conversions == ("palette_to_rgb", "alpha_composited_on_black")
    assert np.all(loaded.rgb == 0)


def test_multi_frame_gif_gives_first_frame(tmp_path: Path) -> None:
    first = np.zeros((40, 40, 3), dtype=np.uint8)
    first[..., 0] = 255
    second = np.zeros((40, 40, 3), dtype=np.uint8)
    second[..., 2] = 255
    path = tmp_path / "anim.gif"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)])
    loaded = load_image(path)
    assert loaded.conversions[0] == "first_frame_of:2"
    assert np.all(loaded.rgb == [255, 0, 0])


def test_no_face_texture_reads_fine(corpus: Path) -> None:
    np.testing.assert_array_equal(load_image(corpus / "no_face.png").rgb, no_face_texture())


# ---------------------------------------------------------------------------
# Size limits
# ---------------------------------------------------------------------------


def test_too_large_is_refused_without_decoding(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("load_image decoded an image it should refuse from its header")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    with pytest.raises(ImageLoadError) as caught:
        load_image(corpus / "too_large.png")
    assert caught.value.status is ImageStatus.TOO_LARGE
    assert "9000x9000" in str(caught.value)


def test_max_pixels_and_min_side_are_inclusive_limits(face: np.ndarray, corpus: Path, tmp_path: Path) -> None:
    height, width = face.shape[:2]
    assert _status_of(corpus / "face.jpg", max_pixels=height * width) == "ok"
    assert _status_of(corpus / "face.jpg", max_pixels=height * width - 1) == "too_large"
    path = tmp_path / "strip.png"
    path.write_bytes(_png_bytes(np.ascontiguousarray(face[:32, :200])))
    assert _status_of(path, min_side=32) == "ok"
    assert _status_of(path, min_side=33) == "too_small"


def test_pillow_decompression_bomb_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (15_000, 15_000)).save(path)  # 225 Mpixel: above Pillow's own hard limit
    assert _status_of(path, max_pixels=10**12) == "too_large"


def test_truncation_is_not_hidden_by_pillow_setting() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# ---------------------------------------------------------------------------
# Operating-system failures
# ---------------------------------------------------------------------------


def test_missing_file_and_dangling_link_are_missing(tmp_path: Path) -> None:
    assert _status_of(tmp_path / "absent.jpg") == "missing"
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    assert _status_of(tmp_path / "dangling.jpg") == "missing"


def test_folder_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "folder.jpg").mkdir()
    assert _status_of(tmp_path / "folder.jpg") == "unreadable"


def test_permission_denied_is_unreadable(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(image_io, "_open_readonly", refuse)
    with pytest.raises(ImageLoadError) as caught:
        load_image(corpus / "face.jpg")
    assert caught.value.status is ImageStatus.UNREADABLE
    assert "Permission denied" in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_real_permission_denied_is_unreadable(face: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "locked.png"
    path.write_bytes(_png_bytes(face))
    path.chmod(0)
    try:
        assert _status_of(path) == "unreadable"
    finally:
        path.chmod(0o644)


def test_unknown_format_and_random_bytes_are_not_images(tmp_path: Path) -> None:
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp_path / "doc.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n")  # EPS: not accepted
    assert _status_of(tmp_path / "noise.png") == "not_an_image"
    assert _status_of(tmp_path / "doc.jpg") == "not_an_image"


def test_status_prints_as_its_value() -> None:
    assert str(ImageStatus.TOO_SMALL) == "too_small" and f"{ImageStatus.OK}" == "ok"
    assert ImageStatus("truncated") is ImageStatus.TRUNCATED


# ---------------------------------------------------------------------------
# save_png
# ---------------------------------------------------------------------------


def _png_chunk_types(raw: bytes) -> list[bytes]:
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    types, offset = [], 8
    while offset < len(raw):
        (length,) = struct.unpack(">I", raw[offset : offset + 4])
        types.append(raw[offset + 4 : offset + 8])
        offset += 12 + length
    return types


def test_save_png_round_trips_rgb_and_grey(face: np.ndarray, tmp_path: Path) -> None:
    save_png(tmp_path / "rgb.png", face)
    np.testing.assert_array_equal(load_image(tmp_path / "rgb.png").rgb, face)
    grey = np.ascontiguousarray(face[..., 1])
    save_png(tmp_path / "grey.png", grey)
    with Image.open(tmp_path / "grey.png") as image:
        assert image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image), grey)


def test_save_png_writes_no_metadata(corpus: Path, tmp_path: Path) -> None:
    with Image.open(corpus / "exif_rotated.jpg") as original:
        assert original.getexif()  # the source does carry EXIF
    loaded = load_image(corpus / "exif_rotated.jpg")
    save_png(tmp_path / "out.png", loaded.rgb)
    raw = (tmp_path / "out.png").read_bytes()
    chunks = _png_chunk_types(raw)
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    assert set(chunks[1:-1]) == {b"IDAT"}  # pixels only: no eXIf, tEXt, iTXt, zTXt, iCCP, tIME, pHYs
    with Image.open(tmp_path / "out.png") as written:
        assert dict(written.info) == {}
        assert len(written.getexif()) == 0


def test_save_png_is_deterministic(face: np.ndarray, tmp_path: Path) -> None:
    save_png(tmp_path / "a.png", face)
    save_png(tmp_path / "b.png", face.copy())
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes() == encode_png(face)


def test_save_png_accepts_non_contiguous_views(face: np.ndarray, tmp_path: Path) -> None:
    view = face[::2, ::-1]
    save_png(tmp_path / "v.png", view)
    np.testing.assert_array_equal(load_image(tmp_path / "v.png").rgb, view)


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((0, 8, 3), np.uint8)],
    ids=["float", "rgba", "empty"],
)
def test_save_png_rejects_other_arrays(pixels: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises((TypeError, ValueError)):
        save_png(tmp_path / "x.png", pixels)
    assert not (tmp_path / "x.png").exists()


def test_save_png_failure_keeps_previous_file(face: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "faces" / "img_0.png"
    save_png(target, face)
    previous = target.read_bytes()

    def crash(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files.os, "replace", crash)
    with pytest.raises(OSError):
        save_png(target, 255 - face)
    assert target.read_bytes() == previous
    assert sorted(p.name for p in target.parent.iterdir()) == ["img_0.png"]


# ---------------------------------------------------------------------------
# image_id_for and list_images
# ---------------------------------------------------------------------------

_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")


def test_image_id_readable_forms() -> None:
    assert image_id_for("portraits/img_01.jpg") == "portraits__img_01_jpg"
    assert image_id_for("a.jpg") == "a_jpg" and image_id_for("a.png") == "a_png"
    assert image_id_for(Path("train/S005-001.PNG")) == "train__S005-001_PNG"
    assert image_id_for("./x/y.jpg") == image_id_for("x/y.jpg")
    spaced = image_id_for("portraits/a b.jpg")
    assert re.fullmatch(r"portraits__a_b_jpg-[0-9a-f]{10}", spaced)
    assert spaced == image_id_for("portraits/a b.jpg")  # stable


def test_image_id_distinguishes_paths_that_a_plain_slug_would_merge() -> None:
    paths = [
        "a b.jpg",
        "a_b.jpg",
        "a.b.jpg",
        "a-b.jpg",
        "a/b.jpg",
        "a__b.jpg",
        "a/b_jpg",
        "a_b_jpg",
        "a.jpg",
        "a.png",
        "a.JPG",
        "A.jpg",
        "a b/c.jpg",
        "a_b/c.jpg",
        "a/b/c.jpg",
        "a__b/c.jpg",
        "caf\u00e9.jpg",
        "cafe.jpg",
        "caf_.jpg",
        "_a.jpg",
        "a_.jpg",
        "a",
        "a_",
        "a.",
        ".a.jpg",
        "x" * 300 + ".jpg",
        "x" * 300 + ".png",
        "d/" * 60 + "f.jpg",
        "d/" * 61 + "f.jpg",
    ]
    ids = [image_id_for(path) for path in paths]
    assert len(set(ids)) == len(paths)
    for identifier in ids:
        assert _SAFE_ID.fullmatch(identifier), identifier
        assert len(identifier) <= 200


def test_image_id_is_injective_on_random_paths() -> None:
    rng = np.random.default_rng(0)
    alphabet = np.array(list("ab_ .-/"))
    paths = set()
    for length in rng.integers(1, 9, size=30_000):
        path = "".join(rng.choice(alphabet, size=length)) + rng.choice([".jpg", ".png", ""])
        parts = [part for part in path.split("/") if part not in ("", ".", "..")]
        if parts:
            paths.add("/".join(parts))
    ids = {image_id_for(path) for path in paths}
    assert len(ids) == len(paths)


@pytest.mark.parametrize("bad", ["", "/abs/a.jpg", "../up.jpg", "a/../b.jpg"])
def test_image_id_rejects_paths_outside_the_folder(bad: str) -> None:
    with pytest.raises(ValueError):
        image_id_for(bad)


def test_image_suffixes() -> None:
    assert IMAGE_SUFFIXES == {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def test_list_images_filters_and_orders(tmp_path: Path) -> None:
    files = [
        "b.jpg",
        "A.PNG",
        "a-b.jpg",
        "a/b.jpg",
        "a/c.TIFF",
        "z/y/x.webp",
        "m.bmp",
        "n.jpeg",
        "o.tif",
        "notes.txt",
        "anim.gif",
        "noext",
        ".hidden.jpg",
        "a/.also_hidden.png",
        ".git/objects/x.jpg",
        "folder.jpg/inner.png",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "linked").symlink_to(tmp_path / "a", target_is_directory=True)  # not followed
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")  # listed: reading it gives a status
    listed = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert listed == [
        "A.PNG",
        "a/b.jpg",
        "a/c.TIFF",
        "a-b.jpg",
        "b.jpg",
        "dangling.png",
        "folder.jpg/inner.png",
        "m.bmp",
        "n.jpeg",
        "o.tif",
        "z/y/x.webp",
    ]
    assert all(p.parent.is_relative_to(tmp_path) for p in list_images(tmp_path))


def test_list_images_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "absent")


def test_list_images_on_corpus_lists_every_file(corpus: Path) -> None:
    assert [p.name for p in list_images(corpus)] == sorted(READ_STATUSES)
