"""Alignment geometry: eyes end level, the face box ends centred in a zero-padded square."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganon_utils.preprocess.alignment import align_face, alignment_matrix, eye_angle, transform_points


def tilted_face(angle_degrees: float, size: tuple[int, int] = (300, 400)) -> tuple[np.ndarray, dict]:
    """A synthetic photo with two bright 'eyes' on a line tilted by ``angle_degrees`` and a face box."""
    height, width = size
    image = np.full((height, width, 3), 40, dtype=np.uint8)
    center = np.array([220.0, 140.0])
    half = 30.0
    direction = np.array([math.cos(math.radians(angle_degrees)), math.sin(math.radians(angle_degrees))])
    right_eye, left_eye = center - half * direction, center + half * direction
    for x, y in (right_eye, left_eye):
        image[int(round(y)) - 2 : int(round(y)) + 3, int(round(x)) - 2 : int(round(x)) + 3] = 255
    box = (center[0] - 60, center[1] - 50, center[0] + 60, center[1] + 90)  # taller than wide
    return image, {"box": box, "right_eye": tuple(right_eye), "left_eye": tuple(left_eye)}


@pytest.mark.parametrize("angle", [-35.0, -10.0, 0.0, 12.5, 40.0])
@pytest.mark.parametrize("size", [128, 512])
def test_eyes_end_level_and_box_centred(angle: float, size: int) -> None:
    image, face = tilted_face(angle)
    aligned = align_face(image, face["box"], face["right_eye"], face["left_eye"], size=size)
    assert aligned.image.shape == (size, size, 3)
    assert aligned.angle_degrees == pytest.approx(angle, abs=1e-6)
    eyes = transform_points(aligned.matrix, np.array([face["right_eye"], face["left_eye"]]))
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-6)  # level
    assert eyes[0, 0] < eyes[1, 0]  # subject's right eye stays on the image's left
    # the centre of the (rotated) face box lands in the centre of the square
    x0, y0, x1, y1 = face["box"]
    box_centre = transform_points(aligned.matrix, np.array([[(x0 + x1) / 2, (y0 + y1) / 2]]))[0]
    assert box_centre == pytest.approx((size / 2, size / 2), abs=1e-6)
    # the drawn eyes really are level in the pixels (brightest blobs on the same row)
    bright = np.argwhere(aligned.image[..., 0] > 128)
    left_half, right_half = bright[bright[:, 1] < size / 2], bright[bright[:, 1] >= size / 2]
    assert abs(left_half[:, 0].mean() - right_half[:, 0].mean()) < size / 64


def test_longest_side_fills_the_square_and_short_side_is_zero_padded() -> None:
    image, face = tilted_face(0.0)
    aligned = align_face(image, face["box"], face["right_eye"], face["left_eye"], size=256)
    x0, y0, x1, y1 = aligned.content_box
    # box is 120 x 140 (taller): height fills the square, width is 256 * 120/140 centred
    assert (y0, y1) == (0, 256)
    expected_width = 256 * 120 / 140
    assert x1 - x0 == pytest.approx(expected_width, abs=1)
    assert x0 == pytest.approx((256 - expected_width) / 2, abs=1)
    assert not aligned.image[:, : x0 - 1].any() and not aligned.image[:, x1 + 1 :].any()  # black padding
    assert aligned.image[:, x0 + 2 : x1 - 2].min() > 0  # the crop itself is the grey photo


def test_box_outside_the_photo_is_black() -> None:
    image = np.full((100, 100, 3), 200, dtype=np.uint8)
    aligned = align_face(image, (50, 50, 150, 150), (80, 80), (120, 80), size=64)
    assert aligned.image[:32, :32].min() == 200  # inside the photo
    assert aligned.image[40:, 40:].max() == 0  # beyond the photo's border


def test_margin_grows_the_crop() -> None:
    image, face = tilted_face(0.0)
    tight, _, _ = alignment_matrix(face["box"], face["right_eye"], face["left_eye"], 512)
    loose = align_face(image, face["box"], face["right_eye"], face["left_eye"], 512, margin=0.25).matrix
    assert loose[0, 0] == pytest.approx(tight[0, 0] / 1.5)


def test_eye_angle_sign() -> None:
    assert eye_angle((0, 0), (10, 0)) == 0
    assert eye_angle((0, 0), (10, 10)) == pytest.approx(math.pi / 4)


def test_degenerate_box_is_rejected() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        alignment_matrix((5, 5, 5, 5), (4, 5), (6, 5), 64)
