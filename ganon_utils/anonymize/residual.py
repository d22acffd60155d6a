"""A second, independent look for faces that are still there after a photo was anonymised.

The detector of stage 01 decides which faces get replaced; a face it misses (small, turned, in a crowd) would stay
in the written photo unchanged. So every anonymised photo (and every photo in which stage 01 found no face) is
searched again by another detector (:data:`RESIDUAL_DETECTOR`, another model family than the default detector).
A face it finds that does not lie on a replaced face is *residual*: the photo is not ``ok``. What happens to it is
the user's choice (:data:`RESIDUAL_ACTIONS`): ``fail`` writes no photo, ``blur`` / ``pixelate`` obscure each
residual face (its box grown by :data:`RESIDUAL_MARGIN`) and write the photo, marked ``residual_obscured``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from ganon_utils.anonymize.methods import gaussian_blur, pixelate
from ganon_utils.preprocess.detection import FaceDetection, FaceDetector, box_iou, build_detector

Box = tuple[float, float, float, float]

RESIDUAL_DETECTOR = "mtcnn"
"""The default second detector: MTCNN, another model family than the default YuNet + CenterFace, 97.9% mean recall
and no false positive in docs/detection.md (Haar's false positives on a suit would reject clean photos)."""
RESIDUAL_ACTIONS = ("fail", "blur", "pixelate")
RESIDUAL_MARGIN = 0.25
"""A residual face's box is grown by this fraction per side before it is obscured (hair, chin, ears)."""
REPLACED_IOU = 0.2
"""A detection overlapping a replaced face's box by at least this IoU is that (anonymised) face, not a residual one."""


@lru_cache(maxsize=4)
def residual_detector(name: str = RESIDUAL_DETECTOR) -> FaceDetector:
    """The second detector, built once per process."""
    return build_detector(name)


def on_replaced_face(box: Sequence[float], replaced: Sequence[Sequence[float]], iou: float = REPLACED_IOU) -> bool:
    """True when ``box`` is one of the replaced faces: it overlaps one by ``iou``, or its centre lies inside one."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for other in replaced:
        if box_iou(box, other) >= iou or (other[0] <= cx <= other[2] and other[1] <= cy <= other[3]):
            return True
    return False


def find_residual_faces(
    photo: np.ndarray, replaced: Sequence[Sequence[float]], detector: FaceDetector | None = None
) -> list[FaceDetection]:
    """Faces the second detector finds in ``photo`` (RGB) that are not on a replaced face box (photo coordinates)."""
    detector = detector or residual_detector()
    return [face for face in detector(photo) if not on_replaced_face(face.box, replaced)]


def grown_box(box: Sequence[float], margin: float, height: int, width: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` of its size on every side, as integer pixel bounds clipped to the photo."""
    x0, y0, x1, y1 = box
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    left, top = max(0, int(np.floor(x0 - dx))), max(0, int(np.floor(y0 - dy)))
    right, bottom = min(width, int(np.ceil(x1 + dx))), min(height, int(np.ceil(y1 + dy)))
    return left, top, right, bottom


def obscure_faces(
    photo: np.ndarray, boxes: Sequence[Sequence[float]], action: str, margin: float = RESIDUAL_MARGIN
) -> np.ndarray:
    """A copy of ``photo`` with each box (grown by ``margin``) pixelated (8 x 8 blocks) or strongly blurred."""
    if action not in ("blur", "pixelate"):
        raise ValueError(f"action must be blur or pixelate, got {action!r}")
    result = photo.copy()
    height, width = photo.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = grown_box(box, margin, height, width)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = result[y0:y1, x0:x1]
        if action == "pixelate":
            result[y0:y1, x0:x1] = pixelate(region, min(8, x1 - x0, y1 - y0))
        else:  # a kernel about a third of the face: no identity survives, unlike the paper's 9x9 / 17x17 baselines
            kernel = max(3, (min(x1 - x0, y1 - y0) // 3) | 1)
            result[y0:y1, x0:x1] = cv2.GaussianBlur(gaussian_blur(region, 17), (kernel, kernel), 0)
    return result
