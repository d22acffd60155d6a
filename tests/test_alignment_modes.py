"""The two orders of eye levelling and cropping (issue 10 B).

``crop_then_rotate`` is checked against the authors' steps written out here independently of the package:
retina-face 0.0.14's ``extract_faces(align=True)`` (numpy slice of the integer box, the eye/third-point triangle and
cosine rule for the angle, PIL ``Image.rotate`` with its defaults) followed by the authors' ``ZeroPaddingResize``
(PIL LANCZOS resize of the longest side, truncated sides, paste at floored offsets).
"""

from __future__ import annotations

import hashlib
import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from ganon_utils.anonymize.paste_back import alignment_from_record, paste_face
from ganon_utils.cli import main
from ganon_utils.preprocess import PreprocessConfig, run_preprocess, tasks_from_folder
from ganon_utils.preprocess.alignment import (
    CROP_THEN_ROTATE,
    ROTATE_THEN_CROP,
    align_face,
    crop_pixel_bounds,
    crop_then_rotate_matrix,
    expand_box,
    retinaface_rotation_degrees,
    transform_points,
)
from ganon_utils.preprocess.cli import build_parser, config_from_arguments
from ganon_utils.preprocess.pipeline import detect_and_process

# --- the authors' steps, written out -------------------------------------------------------------------------


def triangle_rule_degrees(right_eye: tuple[float, float], left_eye: tuple[float, float]) -> float:
    """retina-face 0.0.14's signed rotation: its 'left eye' argument is the subject's right eye (image left)."""
    (lx, ly), (rx, ry) = right_eye, left_eye
    if ly > ry:
        third, direction = (rx, ly), -1
    else:
        third, direction = (lx, ry), 1
    a, b, c = math.dist((lx, ly), third), math.dist((rx, ry), third), math.dist((lx, ly), (rx, ry))
    if b == 0 or c == 0:
        return 0.0
    angle = math.degrees(math.acos(min(1.0, max(-1.0, (b * b + c * c - a * a) / (2 * b * c)))))
    return direction * (90 - angle if direction == -1 else angle)


def authors_face(photo: np.ndarray, box: tuple[float, ...], right_eye, left_eye, size: int) -> np.ndarray:
    """extract_faces(align=True) of retina-face 0.0.14 and ZeroPaddingResize(size), step by step."""
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(photo.shape[1], x1), min(photo.shape[0], y1)
    crop = Image.fromarray(photo[y0:y1, x0:x1])
    angle = triangle_rule_degrees(right_eye, left_eye)
    rotated = crop.rotate(angle) if angle != 0 else crop  # retina-face skips rotate() when b == 0
    ratio = min(size / rotated.width, size / rotated.height)
    resized = rotated.resize((int(ratio * rotated.width), int(ratio * rotated.height)), Image.Resampling.LANCZOS)
    square = Image.new("RGB", (size, size))
    square.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return np.asarray(square)


# --- a synthetic face --------------------------------------------------------------------------------------------


def textured_face(tilt_degrees: float, shape: tuple[int, int] = (360, 480)) -> tuple[np.ndarray, dict]:
    """A smooth texture (no channel 0) with two bright eye blobs and a dark nose blob tilted by ``tilt_degrees``.

    The texture varies over ~20-40 pixels, so resampling with nearest, LANCZOS or cubic differs by a few grey
    levels at most; the box has fractional coordinates and is taller than wide.
    """
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack(
        [
            120 + 50 * np.sin(xx / 23.0) * np.cos(yy / 31.0),
            110 + 60 * np.sin((xx + yy) / 41.0),
            100 + 45 * np.cos((xx - 2 * yy) / 37.0),
        ],
        axis=-1,
    )
    centre = np.array([250.0, 170.0])
    tilt = math.radians(tilt_degrees)
    along, down = np.array([math.cos(tilt), math.sin(tilt)]), np.array([-math.sin(tilt), math.cos(tilt)])
    right_eye, left_eye, nose = centre - 32 * along, centre + 32 * along, centre + 38 * down
    for (x, y), value in ((right_eye, 250.0), (left_eye, 250.0), (nose, 20.0)):
        blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 5.0**2))[..., None]
        image = image * (1 - blob) + value * blob
    box = (centre[0] - 75.3, centre[1] - 80.6, centre[0] + 72.8, centre[1] + 95.2)
    face = {"box": box, "right_eye": tuple(right_eye), "left_eye": tuple(left_eye), "nose": tuple(nose)}
    return np.clip(np.rint(image), 1, 255).astype(np.uint8), face


def aligned(photo: np.ndarray, face: dict, size: int, alignment: str, margin: float = 0.0):
    return align_face(photo, face["box"], face["right_eye"], face["left_eye"], size, margin, alignment=alignment)


def blob_centre(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(x, y) centroid of ``mask``'s pixels."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


# --- crop_then_rotate against the authors' steps -------------------------------------------------------------


@pytest.mark.parametrize("tilt", [25.0, -22.0, 0.0])
@pytest.mark.parametrize("size", [512, 128])
def test_crop_then_rotate_matches_the_authors_steps(tilt: float, size: int) -> None:
    photo, face = textured_face(tilt)
    ours = aligned(photo, face, size, CROP_THEN_ROTATE).image
    theirs = authors_face(photo, face["box"], face["right_eye"], face["left_eye"], size)
    ours_on, theirs_on = ours.max(axis=2) > 0, theirs.max(axis=2) > 0
    # Black (corners and padding) in the same places, up to the crop's edge: PIL's NEAREST rotation picks the
    # neighbouring pixel there and its LANCZOS resize softens the edge over a few pixels.
    assert (ours_on != theirs_on).mean() < 0.025
    edge = max(3, size // 64) | 1
    core = cv2.erode((ours_on & theirs_on).astype(np.uint8), np.ones((edge, edge), np.uint8)).astype(bool)
    assert core.mean() > 0.6
    difference = np.abs(ours.astype(int) - theirs.astype(int))[core]
    # One cubic warp against NEAREST + LANCZOS: measured mean 0.15-0.5, p99 1-4 grey levels (the eye blobs'
    # slopes give the largest, up to 17); a geometric error of half a pixel would give a mean above 1.
    assert difference.mean() < 0.8
    assert np.percentile(difference, 99) <= 6


@pytest.mark.parametrize("angle", [25.0, -22.0, 7.3])
def test_rotation_takes_the_pixels_pil_takes(angle: float) -> None:
    """A crop of exactly ``size`` pixels is not resized: our map must point into the pixel PIL's rotate picks."""
    size = 96
    box = (100, 50, 100 + size, 50 + size)
    matrix, content, crop = crop_then_rotate_matrix(box, angle, size, (300, 400))
    assert content == (0, 0, size, size) and crop == box
    index = np.arange(size * size).reshape(size, size)
    coded = np.stack([index % 256, index // 256, np.full_like(index, 255)], axis=-1).astype(np.uint8)
    rotated = np.asarray(Image.fromarray(coded).rotate(angle))  # NEAREST, black fill, centre (w/2, h/2)
    u, v = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    source = transform_points(cv2.invertAffineTransform(matrix), np.stack([u.ravel(), v.ravel()], axis=1))
    xs = np.floor(source[:, 0] - box[0] + 0.5).astype(int).reshape(size, size)
    ys = np.floor(source[:, 1] - box[1] + 0.5).astype(int).reshape(size, size)
    inside = (xs >= 0) & (xs < size) & (ys >= 0) & (ys < size)
    assert np.array_equal(inside, rotated[..., 2] == 255)  # the same pixels are black
    picked = rotated[..., 0].astype(int) + 256 * rotated[..., 1].astype(int)
    # PIL's nearest uses 16.16 fixed point, so a pixel centre on a tie may go the other way: measured 99.9 %
    assert (picked[inside] == (ys * size + xs)[inside]).mean() > 0.995


@pytest.mark.parametrize(
    "right_eye, left_eye",
    [((10, 20), (60, 35)), ((10, 35), (60, 20)), ((10, 20), (60, 20)), ((60, 20), (10, 40)), ((60, 40), (10, 20)),
     ((30, 20), (30, 60)), ((30, 60), (30, 20)), ((30, 20), (30, 20)), ((0.3, 7.9), (41.2, -3.4))],
)  # fmt: skip
def test_angle_follows_the_triangle_rule(right_eye, left_eye) -> None:
    """Tilted either way, eyes in swapped order and vertical eye lines all turn as retina-face turns them."""
    assert retinaface_rotation_degrees(right_eye, left_eye) == pytest.approx(triangle_rule_degrees(right_eye, left_eye), abs=1e-6)


@pytest.mark.parametrize("tilt", [25.0, -22.0])
def test_corners_are_black_and_eyes_level(tilt: float) -> None:
    size = 256
    photo, face = textured_face(tilt)
    result = aligned(photo, face, size, CROP_THEN_ROTATE)
    x0, y0, x1, y1 = result.content_box
    assert (y0, y1) == (0, size) and 0 < x0 < x1 < size  # taller than wide: the height fills the square
    for x, y in ((x0, y0), (x1 - 4, y0), (x0, y1 - 4), (x1 - 4, y1 - 4)):
        assert result.image[y : y + 4, x : x + 4].max() == 0  # the corners the rotated crop left
    assert result.image[size // 2 - 20 : size // 2 + 20, size // 2 - 20 : size // 2 + 20].min() > 0
    eyes = transform_points(result.matrix, np.array([face["right_eye"], face["left_eye"]]))
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-9) and eyes[0, 0] < eyes[1, 0]
    bright = result.image.min(axis=2) > 200  # the eye blobs
    left_half, right_half = bright.copy(), bright.copy()
    left_half[:, size // 2 :], right_half[:, : size // 2] = False, False
    assert abs(blob_centre(result.image, left_half)[1] - blob_centre(result.image, right_half)[1]) < 1.0
    assert result.angle_degrees == pytest.approx(tilt, abs=1e-9) and result.alignment == CROP_THEN_ROTATE


# --- the two modes -----------------------------------------------------------------------------------------------


def test_rotate_then_crop_is_the_default_and_unchanged() -> None:
    photo, face = textured_face(25.0)
    default = align_face(photo, face["box"], face["right_eye"], face["left_eye"], 256, 0.25)
    named = aligned(photo, face, 256, ROTATE_THEN_CROP, margin=0.25)
    assert np.array_equal(default.image, named.image) and np.array_equal(default.matrix, named.matrix)
    assert default.alignment == ROTATE_THEN_CROP
    # the pixels the code before issue 10 B produced for this face (OpenCV 4 cubic warp)
    digest = hashlib.sha256(default.image.tobytes()).hexdigest()
    assert digest == ROTATE_THEN_CROP_DIGEST


ROTATE_THEN_CROP_DIGEST = "33b6034e2fff56c2b44628316dfc33d1a3fa9da546eff3c342f6727b31f5bbd7"


@pytest.mark.parametrize("tilt", [25.0, -22.0])
def test_modes_differ_on_a_tilted_face(tilt: float) -> None:
    photo, face = textured_face(tilt)
    rotated_first = aligned(photo, face, 256, ROTATE_THEN_CROP).image.astype(int)
    cropped_first = aligned(photo, face, 256, CROP_THEN_ROTATE).image.astype(int)
    assert np.abs(rotated_first - cropped_first).mean() > 20  # measured 33-37 grey levels
    assert (cropped_first.max(axis=2) == 0).sum() > 1.5 * (rotated_first.max(axis=2) == 0).sum()  # the black corners


def test_modes_agree_on_an_untilted_face() -> None:
    photo, face = textured_face(0.0)
    face["box"] = tuple(float(round(v)) for v in face["box"])  # whole pixels: retina-face's truncation changes nothing
    rotated_first = aligned(photo, face, 256, ROTATE_THEN_CROP)
    cropped_first = aligned(photo, face, 256, CROP_THEN_ROTATE)
    x0, y0, x1, y1 = face["box"]
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], face["right_eye"], face["left_eye"]])
    # The authors' resize puts pixel centres at (x + 0.5) * scale - 0.5 and truncates the short side: under a pixel
    shift = transform_points(rotated_first.matrix, corners) - transform_points(cropped_first.matrix, corners)
    assert np.abs(shift).max() < 1.0
    assert np.abs(rotated_first.image.astype(int) - cropped_first.image.astype(int)).mean() < 2.0


# --- paste-back ----------------------------------------------------------------------------------------------------


def test_paste_back_finds_the_crop_then_rotate_pixels_again() -> None:
    photo, face = textured_face(25.0)
    result = aligned(photo, face, 256, CROP_THEN_ROTATE, margin=0.1)
    matrix = alignment_from_record(face["box"], round(result.angle_degrees, 3), margin=0.1, size=256,
                                   alignment=CROP_THEN_ROTATE, photo_shape=photo.shape[:2])  # fmt: skip
    assert np.abs(matrix - result.matrix).max() < 1e-4
    with pytest.raises(ValueError, match="photo's shape"):
        alignment_from_record(face["box"], result.angle_degrees, margin=0.1, size=256, alignment=CROP_THEN_ROTATE)
    # Pasting the aligned face back where it is not black puts the photo's own pixels back (up to resampling),
    # and nothing outside changes: the black corners are never pasted.
    on = cv2.erode((result.image.max(axis=2) > 0).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    blank = np.zeros_like(photo)
    pasted = paste_face(blank, result.image, on, matrix)
    covered = pasted.max(axis=2) > 0
    x0, y0, x1, y1 = crop_pixel_bounds(expand_box(face["box"], 0.1), photo.shape[:2])
    inside_crop = np.zeros_like(covered)
    inside_crop[y0 - 1 : y1 + 1, x0 - 1 : x1 + 1] = True  # one pixel for the bilinear warp back
    assert covered[~inside_crop].sum() == 0  # nothing from beyond the crop box: the corners were black
    inner = cv2.erode(covered.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert inner.sum() > 0.5 * (x1 - x0) * (y1 - y0)
    assert np.abs(pasted[inner].astype(int) - photo[inner].astype(int)).mean() < 2.0


# --- settings --------------------------------------------------------------------------------------------------


def test_config_refuses_an_unknown_alignment() -> None:
    with pytest.raises(ValueError, match="unknown alignment 'sideways'"):
        PreprocessConfig(alignment="sideways")


def test_command_line_option(tmp_path, capsys) -> None:
    args = build_parser().parse_args([str(tmp_path), str(tmp_path / "out"), "--alignment", "crop_then_rotate"])
    assert config_from_arguments(args).alignment == CROP_THEN_ROTATE
    assert config_from_arguments(build_parser().parse_args([str(tmp_path), str(tmp_path / "o")])).alignment == ROTATE_THEN_CROP
    try:
        code = main(["preprocess", str(tmp_path), str(tmp_path / "out"), "--alignment", "sideways"])
    except SystemExit as stop:
        code = int(stop.code or 0)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and "--alignment" in err[0] and "crop_then_rotate" in err[0]


def test_a_folder_is_not_resumed_with_the_other_alignment(tmp_path) -> None:
    out = tmp_path / "out"
    run_preprocess([], out, PreprocessConfig(alignment=CROP_THEN_ROTATE), n_workers=0, progress=False)
    assert json.loads((out / "config.json").read_text())["alignment"] == CROP_THEN_ROTATE
    with pytest.raises(ValueError, match=r"settings \(alignment: 'crop_then_rotate' -> 'rotate_then_crop'\)"):
        run_preprocess([], out, PreprocessConfig(), n_workers=0, progress=False)
    run_preprocess([], out, PreprocessConfig(alignment=CROP_THEN_ROTATE), n_workers=0, progress=False)  # same: resumes


def test_a_folder_from_before_the_option_was_made_with_rotate_then_crop(tmp_path) -> None:
    out = tmp_path / "out"
    run_preprocess([], out, PreprocessConfig(), n_workers=0, progress=False)
    settings = json.loads((out / "config.json").read_text())
    del settings["alignment"]
    (out / "config.json").write_text(json.dumps(settings))
    run_preprocess([], out, PreprocessConfig(), n_workers=0, progress=False)  # resumes
    with pytest.raises(ValueError, match=r"alignment: 'rotate_then_crop' -> 'crop_then_rotate'"):
        run_preprocess([], out, PreprocessConfig(alignment=CROP_THEN_ROTATE), n_workers=0, progress=False)


@pytest.mark.slow
def test_stage_01_with_crop_then_rotate_pastes_back_at_the_same_place(tmp_path, astronaut) -> None:
    """A real photo through the real models: the record gives back the matrix the face was aligned with."""
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    config = PreprocessConfig(alignment=CROP_THEN_ROTATE, face_margin=0.0)
    faces = run_preprocess(tasks_from_folder(tmp_path), tmp_path / "out", config, n_workers=0, progress=False).faces
    ((_, steps),) = detect_and_process(astronaut, config)
    assert steps.aligned.alignment == CROP_THEN_ROTATE
    row = faces.iloc[0]
    matrix = alignment_from_record(
        (row.box_x0, row.box_y0, row.box_x1, row.box_y1), row.angle_degrees, margin=config.face_margin,
        size=config.image_size, alignment=CROP_THEN_ROTATE, photo_shape=astronaut.shape[:2],
    )  # fmt: skip
    corners = np.array([[0, 0], [512, 0], [0, 512], [512, 512]], dtype=np.float64)
    inverse, fresh = cv2.invertAffineTransform(matrix), cv2.invertAffineTransform(steps.aligned.matrix)
    assert np.abs(transform_points(inverse, corners) - transform_points(fresh, corners)).max() < 0.05
