"""Face alignment (paper section 3.1): eyes level, crop, resize longest side, zero-pad to a square.

Two orders of the steps (``PreprocessConfig.alignment``):

- ``rotate_then_crop`` (this package's default): the photo is rotated about the eyes' midpoint until the eyes
  are level, the face box rotated with it is replaced by its axis-aligned bounds, and that region is cropped.
  Pixels beyond the photo's border are black.
- ``crop_then_rotate`` (the authors' code: ``RetinaFace.extract_faces(align=True)`` of retina-face 0.0.14): the
  detector box is cut out of the photo first (integer pixel bounds, clipped to the photo), that crop is rotated
  about its own centre and keeps its size, so its corners turn black and parts of the face at the crop's corners
  are cut off; the authors' ``ZeroPaddingResize`` then scales it so the longest side fits the square (sides
  truncated to whole pixels) and pastes it at the floored centre offset.

Either way the steps are composed into one affine transform and applied with a single warp, so the image is
resampled once. The transform is returned too, so landmarks or boxes can be mapped between the original photo
and the aligned face (e.g. to paste an anonymised face back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Point = tuple[float, float]
Box = tuple[float, float, float, float]

ROTATE_THEN_CROP = "rotate_then_crop"
CROP_THEN_ROTATE = "crop_then_rotate"
ALIGNMENTS = (ROTATE_THEN_CROP, CROP_THEN_ROTATE)
"""The orders of rotating and cropping (see the module docstring)."""


@dataclass(frozen=True)
class AlignedFace:
    """An aligned face and how it was made."""

    image: np.ndarray  # (size, size, 3) uint8, zero outside ``content_box``
    matrix: np.ndarray  # (2, 3) float64 affine map: original pixel -> aligned pixel
    content_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the face crop inside the padded square
    angle_degrees: float  # rotation applied to level the eyes (counter-clockwise as seen, degrees)
    alignment: str = ROTATE_THEN_CROP  # which order of rotating and cropping made it


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


def rotate_then_crop_matrix(box: Box, right_eye: Point, left_eye: Point, size: int) -> tuple[np.ndarray, Box, float]:
    """``rotate_then_crop``: the affine map original -> aligned square, the content box in it, the tilt angle.

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
    crop_to_square = np.array([[scale, 0.0, offset_x - cx0 * scale], [0.0, scale, offset_y - cy0 * scale], [0.0, 0.0, 1.0]])
    matrix = (crop_to_square @ rotate)[:2]
    content = (offset_x, offset_y, offset_x + width * scale, offset_y + height * scale)
    return matrix, content, math.degrees(angle)


def retinaface_rotation_degrees(right_eye: Point, left_eye: Point) -> float:
    """The rotation (degrees, counter-clockwise as seen) retina-face 0.0.14 applies to level the eyes.

    Its rule uses the right triangle of the two eyes and the corner below or above them: when the subject's
    right eye (the image's left one) lies lower, the crop turns clockwise by the eye line's angle to the
    horizontal, otherwise counter-clockwise by it. Only the eyes' absolute offsets enter, so the angle stays
    within [-90, 90] (``eye_angle`` would give up to 180 for eyes in swapped order), an exactly vertical eye line
    with the right eye lower turns by -90 and one with it higher (or equal eyes) not at all, as there.
    """
    dx = abs(left_eye[0] - right_eye[0])
    dy = left_eye[1] - right_eye[1]
    if dy < 0:  # right eye lower: clockwise
        return -math.degrees(math.atan2(-dy, dx))
    if dx == 0:  # retina-face skips the rotation when the triangle's horizontal side is 0
        return 0.0
    return math.degrees(math.atan2(dy, dx))


def crop_pixel_bounds(box: Box, photo_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box as retina-face slices it: coordinates truncated to whole pixels, then clipped to the photo."""
    height, width = photo_shape
    x0, y0, x1, y1 = (int(v) for v in box)
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def padded_resize(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Resized width, height and paste offsets x, y of a ``width`` x ``height`` crop in the ``size`` square.

    As the authors' ZeroPaddingResize: the longest side becomes ``size``, the sides are truncated to whole
    pixels, and the crop is pasted at the floored centre offsets.
    """
    ratio = min(size / width, size / height)
    new_width, new_height = int(ratio * width), int(ratio * height)
    return new_width, new_height, (size - new_width) // 2, (size - new_height) // 2


def crop_then_rotate_matrix(
    box: Box, angle_degrees: float, size: int, photo_shape: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int, int, int]]:
    """``crop_then_rotate``: the affine map original -> aligned square, the content box, the crop's pixel bounds.

    Pixel centres are at integer coordinates here. PIL (which retina-face and the authors use) puts them at
    +0.5: its rotation centre (w/2, h/2) is ((w-1)/2, (h-1)/2) here, and its resize maps crop pixel x to
    (x + 0.5) * new_w / w - 0.5. The two sides scale by slightly different factors when truncation shortens one.
    """
    cx0, cy0, cx1, cy1 = crop_pixel_bounds(box, photo_shape)
    width, height = cx1 - cx0, cy1 - cy0
    if width <= 0 or height <= 0:
        raise ValueError(f"degenerate face box {box} in a photo of shape {photo_shape}")
    new_width, new_height, offset_x, offset_y = padded_resize(width, height, size)
    if new_width <= 0 or new_height <= 0:
        raise ValueError(f"degenerate face box {box}: a {width} x {height} crop vanishes at size {size}")
    to_crop = np.array([[1.0, 0.0, -cx0], [0.0, 1.0, -cy0], [0.0, 0.0, 1.0]])
    rotate = rotation_about(((width - 1) / 2, (height - 1) / 2), math.radians(angle_degrees))
    scale_x, scale_y = new_width / width, new_height / height
    resize_and_paste = np.array(
        [
            [scale_x, 0.0, 0.5 * scale_x - 0.5 + offset_x],
            [0.0, scale_y, 0.5 * scale_y - 0.5 + offset_y],
            [0.0, 0.0, 1.0],
        ]
    )
    matrix = (resize_and_paste @ rotate @ to_crop)[:2]
    content = (offset_x, offset_y, offset_x + new_width, offset_y + new_height)
    return matrix, content, (cx0, cy0, cx1, cy1)


def alignment_matrix(
    box: Box,
    right_eye: Point,
    left_eye: Point,
    size: int,
    alignment: str = ROTATE_THEN_CROP,
    photo_shape: tuple[int, int] | None = None,
) -> tuple[np.ndarray, Box, float]:
    """The affine map original -> aligned square, the content box in the square, and the rotation (degrees).

    ``crop_then_rotate`` needs the photo's (height, width): the crop is clipped to it, as in retina-face.
    """
    check_alignment(alignment)
    if alignment == ROTATE_THEN_CROP:
        return rotate_then_crop_matrix(box, right_eye, left_eye, size)
    if photo_shape is None:
        raise ValueError("crop_then_rotate alignment needs the photo's shape (the crop is clipped to the photo)")
    angle = retinaface_rotation_degrees(right_eye, left_eye)
    matrix, content, _ = crop_then_rotate_matrix(box, angle, size, photo_shape)
    return matrix, tuple(float(v) for v in content), angle  # type: ignore[return-value]


def check_alignment(alignment: str) -> None:
    """Refuse a name that is not one of :data:`ALIGNMENTS`."""
    if alignment not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {alignment!r}; choose one of {', '.join(ALIGNMENTS)}")


def align_face(
    image: np.ndarray,
    box: Box,
    right_eye: Point,
    left_eye: Point,
    size: int = 512,
    margin: float = 0.0,
    alignment: str = ROTATE_THEN_CROP,
) -> AlignedFace:
    """Level the eyes, crop the face box, resize its longest side to ``size``, zero-pad to a square.

    ``alignment`` is the order of rotating and cropping (module docstring). Pixels of the crop that fall outside
    the photo, the padding and (``crop_then_rotate``) the corners the rotated crop leaves are black (0).
    """
    check_alignment(alignment)
    expanded = expand_box(box, margin)
    if alignment == CROP_THEN_ROTATE:
        return crop_then_rotate_face(image, expanded, right_eye, left_eye, size)
    matrix, content, angle = rotate_then_crop_matrix(expanded, right_eye, left_eye, size)
    warped = cv2.warpAffine(
        image,
        matrix,
        (size, size),
        flags=interpolation_for(matrix),
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    x0, y0 = int(round(content[0])), int(round(content[1]))
    x1, y1 = int(round(content[2])), int(round(content[3]))
    padded = np.zeros_like(warped)
    padded[y0:y1, x0:x1] = warped[y0:y1, x0:x1]
    return AlignedFace(image=padded, matrix=matrix, content_box=(x0, y0, x1, y1), angle_degrees=angle)


def interpolation_for(matrix: np.ndarray) -> int:
    """Cubic when the warp enlarges, bilinear when it shrinks (one resampling of the photo either way)."""
    upscaling = matrix[0, 0] ** 2 + matrix[0, 1] ** 2 > 1.0
    return cv2.INTER_CUBIC if upscaling else cv2.INTER_LINEAR


def inside_crop_mask(matrix: np.ndarray, crop: tuple[int, int, int, int], size: int) -> np.ndarray:
    """(size, size) bool: aligned pixels whose centre maps back into the crop's pixels (PIL's nearest rule)."""
    inverse = cv2.invertAffineTransform(matrix)
    u, v = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    x = inverse[0, 0] * u + inverse[0, 1] * v + inverse[0, 2]
    y = inverse[1, 0] * u + inverse[1, 1] * v + inverse[1, 2]
    cx0, cy0, cx1, cy1 = crop
    # crop pixel i covers [i - 0.5, i + 0.5) with centres at integers
    return (x >= cx0 - 0.5) & (x < cx1 - 0.5) & (y >= cy0 - 0.5) & (y < cy1 - 0.5)


def crop_then_rotate_face(image: np.ndarray, box: Box, right_eye: Point, left_eye: Point, size: int) -> AlignedFace:
    """``crop_then_rotate``: retina-face 0.0.14's crop and eye levelling, then the authors' resize and padding.

    One warp of the crop replaces their three resamplings (PIL ``Image.rotate`` with its default NEAREST, then
    LANCZOS resize), so the pixels are not bit-identical to theirs: the interpolation is cubic when enlarging and
    bilinear when shrinking, the geometry (crop, rotation centre and sense, scale, offsets) is the same. The
    crop's edge is replicated for the interpolation and everything whose centre maps outside the crop is then
    set to black, so the black corners have PIL's hard edge rather than LANCZOS's soft one.
    """
    angle = retinaface_rotation_degrees(right_eye, left_eye)
    matrix, content, crop = crop_then_rotate_matrix(box, angle, size, (image.shape[0], image.shape[1]))
    cx0, cy0, cx1, cy1 = crop
    from_crop = matrix @ np.array([[1.0, 0.0, cx0], [0.0, 1.0, cy0], [0.0, 0.0, 1.0]])
    warped = cv2.warpAffine(
        np.ascontiguousarray(image[cy0:cy1, cx0:cx1]),
        from_crop,
        (size, size),
        flags=interpolation_for(matrix),
        borderMode=cv2.BORDER_REPLICATE,
    )
    x0, y0, x1, y1 = content
    keep = inside_crop_mask(matrix, crop, size)
    keep[:y0], keep[y1:], keep[:, :x0], keep[:, x1:] = False, False, False, False
    warped[~keep] = 0
    return AlignedFace(image=warped, matrix=matrix, content_box=content, angle_degrees=angle, alignment=CROP_THEN_ROTATE)
