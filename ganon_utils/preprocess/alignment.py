"""Face alignment (paper section 3.1): eyes level, crop, resize longest side, zero-pad to a square.

The four steps are composed into one affine transform and applied with a single warp, so the
image is resampled once. The transform is returned too, so landmarks or boxes can be mapped between
the original photo and the aligned face (e.g. to paste an anonymised face back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class AlignedFace:
    """An aligned face and how it was made."""

    image: np.ndarray  # (size, size, 3) uint8, zero outside ``content_box``
    matrix: np.ndarray  # (2, 3) float64 affine map: original pixel -> aligned pixel
    content_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the face crop inside the padded square
    angle_degrees: float  # rotation applied to level the eyes


def eye_angle(right_eye: Point, left_eye: Point) -> float:
    """Angle (radians) of the vector from the subject's right eye to the left eye; 0 when level."""
    return math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])


def rotation_about(center: Point, angle: float) -> np.ndarray:
    """3x3 matrix rotating points by ``-angle`` around ``center`` (undoes a tilt of ``angle``)."""
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = center
    # x' = R(-a) (x - c) + c, with R(-a) = [[cos, sin], [-sin, cos]]
    return np.array(
        [
            [cos, sin, cx - cos * cx - sin * cy],
            [-sin, cos, cy + sin * cx - cos * cy],
            [0.0, 0.0, 1.0],
        ]
    )


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 or 3x3 affine matrix to an (N, 2) array of points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def expand_box(box: Box, margin: float) -> Box:
    """Grow a box by ``margin`` times its width/height on every side (0 keeps it)."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return (x0 - dx, y0 - dy, x1 + dx, y1 + dy)


def alignment_matrix(box: Box, right_eye: Point, left_eye: Point, size: int) -> tuple[np.ndarray, Box, float]:
    """The affine map original -> aligned square, the content box in the square, and the tilt angle.

    The image is rotated about the eyes' midpoint so the eyes are level; the face box, rotated with it,
    is replaced by its axis-aligned bounds; that crop is scaled so its longest side is ``size`` and
    centred in a ``size`` x ``size`` square.
    """
    angle = eye_angle(right_eye, left_eye)
    center = ((right_eye[0] + left_eye[0]) / 2, (right_eye[1] + left_eye[1]) / 2)
    rotate = rotation_about(center, angle)
    x0, y0, x1, y1 = box
    corners = transform_points(rotate, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    (cx0, cy0), (cx1, cy1) = corners.min(axis=0), corners.max(axis=0)
    width, height = cx1 - cx0, cy1 - cy0
    if width <= 0 or height <= 0:
        raise ValueError(f"degenerate face box {box}")
    scale = size / max(width, height)
    offset_x, offset_y = (size - width * scale) / 2, (size - height * scale) / 2
    crop_to_square = np.array(
        [[scale, 0.0, offset_x - cx0 * scale], [0.0, scale, offset_y - cy0 * scale], [0.0, 0.0, 1.0]]
    )
    matrix = (crop_to_square @ rotate)[:2]
    content = (offset_x, offset_y, offset_x + width * scale, offset_y + height * scale)
    return matrix, content, math.degrees(angle)


def align_face(
    image: np.ndarray,
    box: Box,
    right_eye: Point,
    left_eye: Point,
    size: int = 512,
    margin: float = 0.0,
) -> AlignedFace:
    """Level the eyes, crop the face box, resize its longest side to ``size``, zero-pad to a square.

    Pixels of the crop that fall outside the photo and the padding are black (0).
    """
    matrix, content, angle = alignment_matrix(expand_box(box, margin), right_eye, left_eye, size)
    upscaling = matrix[0, 0] ** 2 + matrix[0, 1] ** 2 > 1.0
    warped = cv2.warpAffine(
        image,
        matrix,
        (size, size),
        flags=cv2.INTER_CUBIC if upscaling else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    x0, y0 = int(round(content[0])), int(round(content[1]))
    x1, y1 = int(round(content[2])), int(round(content[3]))
    padded = np.zeros_like(warped)
    padded[y0:y1, x0:x1] = warped[y0:y1, x0:x1]
    return AlignedFace(image=padded, matrix=matrix, content_box=(x0, y0, x1, y1), angle_degrees=angle)
