"""The paper's simple baselines (section 4.1): pixelation and Gaussian blur of an aligned face.

Each method is a pure function ``face (H, W, 3) uint8 -> anonymised face (H, W, 3) uint8``; the input
is never modified. Method names used by the pipeline, the command line and the notebooks:

- ``pixel8``, ``pixel16`` (any ``pixel<N>``): the face reduced to N x N blocks. "8x8" keeps fewer
  blocks than "16x16" and therefore obfuscates more (paper Table 1: 0.8791 vs 0.6651).
- ``blur9``, ``blur17`` (any ``blur<K>`` with K odd): Gaussian blur with a K x K kernel and OpenCV's
  default sigma for that kernel; the larger kernel obfuscates more (paper: 0.0725 vs 0.0102).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import cv2
import numpy as np

FaceMethod = Callable[[np.ndarray], np.ndarray]
"""An anonymisation method on one aligned face: (H, W, 3) uint8 in, same shape and dtype out."""

PAPER_BASELINES = ("pixel8", "pixel16", "blur9", "blur17")
"""The built-in baselines of the paper (Table 1)."""

_PIXEL_NAME = re.compile(r"pixel([1-9][0-9]*)")
_BLUR_NAME = re.compile(r"blur([1-9][0-9]*)")


def _check_face(face: np.ndarray) -> None:
    if face.dtype != np.uint8 or face.ndim not in (2, 3) or face.shape[0] == 0 or face.shape[1] == 0:
        raise ValueError(f"expected a non-empty (H, W[, C]) uint8 image, got {face.dtype} {face.shape}")


def pixelate(face: np.ndarray, blocks: int = 8) -> np.ndarray:
    """Reduce ``face`` to ``blocks`` x ``blocks`` area averages and scale back with nearest neighbour.

    When height and width are multiples of ``blocks`` the result is exactly ``blocks`` x ``blocks``
    uniform rectangles, each the (rounded) mean of the pixels it covers.
    """
    _check_face(face)
    if blocks < 1:
        raise ValueError(f"blocks must be >= 1, got {blocks}")
    height, width = face.shape[:2]
    if blocks > min(height, width):
        raise ValueError(f"{blocks} blocks do not fit a {width}x{height} face")
    small = cv2.resize(face, (blocks, blocks), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def gaussian_blur(face: np.ndarray, kernel: int = 9) -> np.ndarray:
    """``cv2.GaussianBlur`` with a ``kernel`` x ``kernel`` window and sigma derived from it (sigma=0).

    OpenCV's rule for sigma=0 is ``0.3 * ((kernel - 1) * 0.5 - 1) + 0.8`` (1.7 for 9, 2.9 for 17).
    """
    _check_face(face)
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"the blur kernel must be a positive odd number, got {kernel}")
    return cv2.GaussianBlur(face, (kernel, kernel), 0)


def builtin_method(name: str) -> FaceMethod | None:
    """The face function behind a built-in baseline name (``pixel<N>``, ``blur<K>``), else None."""
    if match := _PIXEL_NAME.fullmatch(name):
        return partial(pixelate, blocks=int(match.group(1)))
    if match := _BLUR_NAME.fullmatch(name):
        kernel = int(match.group(1))
        if kernel % 2 == 0:
            raise ValueError(f"{name}: the blur kernel must be odd")
        return partial(gaussian_blur, kernel=kernel)
    return None
