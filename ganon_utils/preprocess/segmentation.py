"""Background removal (paper section 3.2): keep the head, set every other pixel to 0.

Backends:
- ``selfie``: MediaPipe selfie segmentation (ships in the mediapipe wheel) restricted to a head region
  (an ellipse around the detected face box), so shoulders and bodies are removed; offline default.
- ``head_unet``: the paper's head-segmentation U-Net (resnet34 encoder, 2 classes); needs its weights.
- ``head_unet_bgr``: the same U-Net fed the pixels in BGR order, as the authors' code did (it read images
  with ``cv2.imread`` and passed them on unconverted, while the model was trained on RGB): reproduces the
  masks behind the published results, where ``head_unet`` uses the model as it was trained.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ganon_utils.library_logs import WARM_UP_IMAGE, filtered_native_stderr

Box = tuple[float, float, float, float]


class HeadSegmenter(Protocol):
    """Returns a boolean head mask of an aligned face; ``face_box`` is the detector's box in that image."""

    name: str

    def __call__(self, rgb: np.ndarray, face_box: Box) -> np.ndarray: ...


def head_ellipse_mask(height: int, width: int, face_box: Box) -> np.ndarray:
    """Boolean ellipse covering a head around a face box: hair above, ears beside, down to the chin.

    The ellipse is centred 0.1 box-heights above the box centre, with semi-axes 0.75 box-widths and
    0.7 box-heights, so it reaches 0.6 box-heights below the centre (the chin of a BlazeFace box).
    """
    x0, y0, x1, y1 = face_box
    box_w, box_h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.1 * box_h
    rows, cols = np.ogrid[:height, :width]
    return ((cols + 0.5 - cx) / (0.75 * box_w)) ** 2 + ((rows + 0.5 - cy) / (0.7 * box_h)) ** 2 <= 1.0


class SelfieHeadSegmenter:
    """MediaPipe selfie segmentation (person vs background) intersected with a head ellipse."""

    name = "selfie"

    def __init__(self, threshold: float = 0.5) -> None:
        import mediapipe as mp

        with filtered_native_stderr():
            self._model = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
            self._model.process(WARM_UP_IMAGE)  # the graph opens its calculators (and logs) on its own threads
        self.threshold = threshold

    def __call__(self, rgb: np.ndarray, face_box: Box) -> np.ndarray:
        with filtered_native_stderr():
            person = self._model.process(np.ascontiguousarray(rgb)).segmentation_mask > self.threshold
        return person & head_ellipse_mask(rgb.shape[0], rgb.shape[1], face_box)


class PaperHeadSegmenter:
    """The paper's head-segmentation U-Net; the face box is not needed."""

    name = "head_unet"
    bgr_input = False  # feed the channels reversed (the authors' pipeline)

    def __init__(self, device: str = "cpu") -> None:
        from ganon_utils.weights import require_weight

        require_weight("head_segmentation")  # fail fast, before torch is imported
        from ganon_utils.preprocess.head_unet import HeadUNetSegmenter

        self._segmenter = HeadUNetSegmenter(device=device)

    def __call__(self, rgb: np.ndarray, face_box: Box) -> np.ndarray:
        return self._segmenter(np.ascontiguousarray(rgb[..., ::-1]) if self.bgr_input else rgb)


class AuthorsHeadSegmenter(PaperHeadSegmenter):
    """The paper's U-Net fed BGR-ordered pixels, as GANonymization's preprocessing did."""

    name = "head_unet_bgr"
    bgr_input = True


SEGMENTERS = {"selfie": SelfieHeadSegmenter, "head_unet": PaperHeadSegmenter, "head_unet_bgr": AuthorsHeadSegmenter}
SEGMENTER_WEIGHTS = {"head_unet": "head_segmentation", "head_unet_bgr": "head_segmentation"}  # backend -> weight key


def build_segmenter(name: str, **options: object) -> HeadSegmenter:
    """Construct the segmentation backend ``name`` (see :data:`SEGMENTERS`)."""
    if name not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; choose one of {sorted(SEGMENTERS)}")
    return SEGMENTERS[name](**options)


def remove_background(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Set every pixel outside ``mask`` to 0 (a new array; the input is untouched)."""
    return np.where(mask[..., None], rgb, 0).astype(np.uint8)
