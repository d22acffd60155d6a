"""Paste anonymised faces back into the original photo (an addition: no original implementation does this).

Stage 01 maps every face from the photo into an aligned square with one affine transform (rotate the
eyes level, crop, scale, pad). Pasting back inverts it: the anonymised square is warped into the photo
and blended in with a soft mask of the head region, i.e. the non-black pixels of the stage-01
segmented face, eroded slightly and feathered so no hard seam appears. Every pixel of the original head
region is replaced (where the generator drew background, the pasted pixels are dark), so no part of the
original head shows through; pixels outside the region stay bit-identical.

The transform is recomputed from what ``faces.csv`` stores (detector box, eye angle) and the stage's
``config.json`` (face margin, size, alignment): with ``rotate_then_crop`` it does not depend on the centre of the
eye-levelling rotation, so the box and the angle determine it exactly (a test compares it with a fresh
detection); ``crop_then_rotate`` rotates about the crop's centre, which the box and the photo's size give.
The black corners that ``crop_then_rotate`` leaves are outside the head mask, so they are never pasted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from ganon_utils.preprocess.alignment import (
    CROP_THEN_ROTATE,
    ROTATE_THEN_CROP,
    alignment_matrix,
    crop_then_rotate_matrix,
    expand_box,
)

FEATHER_FRACTION = 0.015
"""Width of the soft edge as a fraction of the aligned face side (about 8 px at 512)."""


def alignment_from_record(
    box: Sequence[float],
    angle_degrees: float,
    *,
    margin: float,
    size: int,
    alignment: str = ROTATE_THEN_CROP,
    photo_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """The (2, 3) original -> aligned affine of stage 01 from a face's box, eye angle, margin, size and alignment.

    ``crop_then_rotate`` needs the photo's (height, width), since its crop is clipped to the photo.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    expanded = expand_box((x0, y0, x1, y1), margin)
    if alignment == CROP_THEN_ROTATE:
        if photo_shape is None:
            raise ValueError("a crop_then_rotate face needs the photo's shape to be pasted back")
        matrix, _, _ = crop_then_rotate_matrix(expanded, angle_degrees, size, photo_shape)
        return matrix
    angle = math.radians(angle_degrees)
    # Any two points at this angle give the same matrix: the rotation centre cancels out in the crop.
    right_eye, left_eye = (0.0, 0.0), (math.cos(angle), math.sin(angle))
    matrix, _, _ = alignment_matrix(expanded, right_eye, left_eye, size, alignment)
    return matrix


def head_mask(segmented: np.ndarray) -> np.ndarray:
    """(H, W) bool: the non-black pixels of a segmented face, small gaps closed and holes filled."""
    mask = (segmented.max(axis=2) if segmented.ndim == 3 else segmented) > 0
    if not mask.any():
        return mask
    side = max(3, (min(mask.shape) // 100) | 1)
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    # Fill holes: everything not reachable from the border through background belongs to the head.
    padded = np.pad(closed, 1)
    outside = padded.copy()
    cv2.floodFill(outside, None, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def feathered_mask(mask: np.ndarray, feather: float | None = None) -> np.ndarray:
    """(H, W) float32 alpha in [0, 1]: ``mask`` eroded by feather/2 and blurred with sigma feather/2.

    ``feather`` defaults to :data:`FEATHER_FRACTION` of the mask's side. The soft edge lies mostly inside
    the mask, so almost nothing outside the head region changes.
    """
    if feather is None:
        feather = FEATHER_FRACTION * min(mask.shape)
    radius = max(1, int(round(feather / 2)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    eroded = cv2.erode(mask.astype(np.uint8), kernel).astype(np.float32)
    return np.clip(cv2.GaussianBlur(eroded, (0, 0), sigmaX=max(feather / 2, 0.5)), 0.0, 1.0)


def photo_region(matrix: np.ndarray, size: int, height: int, width: int) -> tuple[int, int, int, int] | None:
    """Bounds (x0, y0, x1, y1) in the photo of the aligned ``size`` square, clipped; None when outside."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], dtype=np.float64)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


def paste_face(photo: np.ndarray, face: np.ndarray, alpha: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """A copy of ``photo`` with ``face`` (aligned square) blended in where ``alpha`` (aligned) is > 0.

    ``matrix`` maps photo pixels to aligned pixels (stage 01's alignment); only the photo region the
    square covers is warped, so large photos cost no more than small ones.
    """
    size = face.shape[0]
    if face.shape[:2] != alpha.shape[:2] or face.shape[0] != face.shape[1]:
        raise ValueError(f"face {face.shape} and alpha {alpha.shape} must be the same square")
    result = photo.copy()
    region = photo_region(matrix, size, *photo.shape[:2])
    if region is None:
        return result
    x0, y0, x1, y1 = region
    # Destination pixel (u, v) of the region is photo pixel (u + x0, v + y0): shift the matrix accordingly.
    shifted = matrix.astype(np.float64).copy()
    shifted[:, 2] += shifted[:, :2] @ np.array([x0, y0], dtype=np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    region_size = (x1 - x0, y1 - y0)
    warped_face = cv2.warpAffine(face, shifted, region_size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    warped_alpha = cv2.warpAffine(
        alpha.astype(np.float32), shifted, region_size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    weight = warped_alpha[..., None]
    original = photo[y0:y1, x0:x1].astype(np.float32)
    blended = original + weight * (warped_face.astype(np.float32) - original)
    result[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return result
