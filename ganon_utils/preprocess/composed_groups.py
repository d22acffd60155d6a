"""Group photos composed from single-face photos, with their ground-truth face boxes known by construction.

No package ships a group photo with many labelled faces of controlled size and pose, so recall tests and
``benchmarks/detection_recall.py`` build them: each single-face photo gives a square crop around its face
(:func:`crop_face`), and :func:`compose_group_photo` tiles the crops in a grid, scaled so every face is
``face_size`` pixels, optionally rotated. How a face box is defined:

- in the source photo, the face box is the square with the centre and area of a detector's box
  (:func:`square_box`); the crop is that square grown by ``margin`` times its side on every side;
- in the composed photo, the ground-truth box is the square of side ``face_size`` centred on the cell the crop
  was placed in: where the source face box lands. A crop is rotated about that centre, so a rotated face keeps
  its centre and size and its box stays the upright square (not the bounds of the rotated square).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

FACE_MARGIN = 0.5
"""Crop margin per side, as a fraction of the face box side: a crop is twice the face box, the face in its middle."""

BACKGROUND = 128
"""Grey level of the composed photo where no crop lies (an unfilled last row)."""


def square_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """The square with the centre and area of an (x0, y0, x1, y1) box: detectors' boxes differ in aspect."""
    x0, y0, x1, y1 = box
    side = math.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def crop_face(rgb: np.ndarray, box: Sequence[float], margin: float = FACE_MARGIN) -> np.ndarray:
    """A square crop around the face ``box``: its :func:`square_box` grown by ``margin`` of its side per side.

    Parts beyond the photo's border repeat its edge pixels, so the face stays in the crop's centre.
    """
    import cv2

    x0, y0, x1, y1 = square_box(box)
    grow = (x1 - x0) * margin
    left, top = int(round(x0 - grow)), int(round(y0 - grow))
    side = max(1, int(round((x1 - x0) + 2 * grow)))
    height, width = rgb.shape[:2]
    pad = max(0, -left, -top, left + side - width, top + side - height)
    padded = cv2.copyMakeBorder(np.ascontiguousarray(rgb), pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else rgb
    return np.ascontiguousarray(padded[top + pad : top + pad + side, left + pad : left + pad + side])


def face_crops(
    photos: Sequence[np.ndarray], detector: Callable[[np.ndarray], list], margin: float = FACE_MARGIN
) -> list[np.ndarray]:
    """One :func:`crop_face` per photo around its highest-scoring detected face; photos without a face are skipped."""
    crops = []
    for rgb in photos:
        faces = detector(rgb)
        if faces:
            best = max(faces, key=lambda face: face.score)
            crops.append(crop_face(rgb, best.box, margin))
    return crops


def mirrored(faces: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Left-right mirrored copies: another face of the same pose turned the other way."""
    return [np.ascontiguousarray(face[:, ::-1]) for face in faces]


def rotation_angles(count: int, max_degrees: float, seed: int) -> np.ndarray:
    """``count`` angles spread evenly over [-max_degrees, max_degrees], in an order shuffled by ``seed``."""
    if count == 0 or max_degrees == 0:
        return np.zeros(count)
    angles = np.linspace(-max_degrees, max_degrees, count) if count > 1 else np.array([max_degrees])
    return np.random.default_rng(seed).permutation(angles)


def rotated_tile(face: np.ndarray, cell: int, degrees: float) -> np.ndarray:
    """``face`` resized to ``cell`` x ``cell`` and rotated by ``degrees`` (counter-clockwise) about its centre."""
    import cv2

    tile = cv2.resize(face, (cell, cell), interpolation=cv2.INTER_AREA if face.shape[0] > cell else cv2.INTER_LINEAR)
    if degrees == 0:
        return tile
    matrix = cv2.getRotationMatrix2D(((cell - 1) / 2, (cell - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(tile, matrix, (cell, cell), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def compose_group_photo(
    faces: list[np.ndarray],
    *,
    face_size: float,
    columns: int,
    rotation_degrees: float = 0,
    seed: int = 0,
    margin: float = FACE_MARGIN,
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB photo, ground-truth boxes (N, 4) as x0, y0, x1, y1) of ``faces`` tiled ``columns`` per row.

    Each face is a square crop from :func:`crop_face` (made with the same ``margin``); it is scaled so its face is
    ``face_size`` pixels wide and placed in row-major order. With ``rotation_degrees`` each face is rotated by an
    angle from :func:`rotation_angles` (deterministic for a ``seed``). Box ``k`` belongs to ``faces[k]``.
    """
    if not faces:
        raise ValueError("compose_group_photo needs at least one face")
    if columns < 1 or face_size <= 0:
        raise ValueError(f"need columns >= 1 and face_size > 0, got {columns} and {face_size}")
    cell = max(1, int(round(face_size * (1 + 2 * margin))))
    side = cell / (1 + 2 * margin)  # the face's exact size after rounding the cell
    rows = math.ceil(len(faces) / columns)
    photo = np.full((rows * cell, min(columns, len(faces)) * cell, 3), BACKGROUND, np.uint8)
    boxes = np.zeros((len(faces), 4))
    for k, (face, angle) in enumerate(zip(faces, rotation_angles(len(faces), rotation_degrees, seed))):
        top, left = (k // columns) * cell, (k % columns) * cell
        photo[top : top + cell, left : left + cell] = rotated_tile(np.asarray(face, np.uint8)[..., :3], cell, angle)
        cx, cy = left + cell / 2, top + cell / 2  # box corners are pixel edges
        boxes[k] = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    return photo, boxes
