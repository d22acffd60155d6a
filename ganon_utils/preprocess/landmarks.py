"""Facial landmarks (paper section 3.3): 478 MediaPipe face-mesh points and their rendering as an image.

Landmarks are stored as coordinates, not images: (478, 3) float32 with x and y normalised to the
aligned face's width and height (MediaPipe's convention) and z in the same scale as x. The landmark
image the generator sees is made on demand by :func:`render_landmarks` at any size, in the style the
authors' code drew (MediaPipe's ``draw_landmarks``: a grey 5-pixel plus per point, the default) or in the
paper text's (one white pixel per point).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ganon_utils.library_logs import WARM_UP_IMAGE, filtered_native_stderr

NUM_LANDMARKS = 478  # 468 face-mesh points + 2 x 5 iris points (refine_landmarks=True)


class LandmarkExtractor:
    """MediaPipe FaceMesh with refined landmarks, built once and reused for every face."""

    name = "mediapipe_face_mesh"

    def __init__(self, min_confidence: float = 0.5) -> None:
        import mediapipe as mp

        with filtered_native_stderr():
            self._model = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=min_confidence,
            )
            self._model.process(WARM_UP_IMAGE)  # the graph opens its calculators (and logs) on its own threads

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        """Return (478, 3) float32 normalised landmarks of the face in ``rgb``, or None if none is found."""
        with filtered_native_stderr():
            result = self._model.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        points = result.multi_face_landmarks[0].landmark
        return np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32)

    def close(self) -> None:
        self._model.close()


LANDMARK_STYLES = ("mediapipe", "pixel")
"""How a landmark image is drawn: ``mediapipe`` as the authors' code (and so the published generators) did, ``pixel``
as the paper's text says (one white pixel per point)."""
DEFAULT_STYLE = "mediapipe"
MEDIAPIPE_GREY = 224
"""MediaPipe's ``WHITE_COLOR`` (224, 224, 224), the grey level of the authors' landmark images."""
PIXEL_WHITE = 255


def check_style(style: str) -> str:
    """``style`` when it is one of :data:`LANDMARK_STYLES`; ValueError otherwise."""
    if style not in LANDMARK_STYLES:
        raise ValueError(f"landmark style must be one of {', '.join(LANDMARK_STYLES)}, got {style!r}")
    return style


def landmark_pixels(landmarks: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer (rows, cols) of the landmarks that fall inside an image of the given size (style ``pixel``).

    A normalised coordinate u maps to pixel floor(u * size); points outside [0, 1) are dropped rather
    than clipped, so no spurious points appear on the border.
    """
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    cols = np.floor(xy[:, 0] * width).astype(np.int64)
    rows = np.floor(xy[:, 1] * height).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    return rows[inside], cols[inside]


def mediapipe_pixels(landmarks: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the landmarks as MediaPipe's ``_normalized_to_pixel_coordinates`` places them.

    A coordinate counts when it lies in [0, 1] (1 within ``math.isclose``'s relative 1e-9; 0 exactly, as MediaPipe's
    check is) and maps to ``min(floor(u * size), size - 1)``; other points are not drawn.
    """
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]

    def valid(value: np.ndarray) -> np.ndarray:
        return (value >= 0) & ((value < 1) | (np.abs(value - 1) <= 1e-9 * np.maximum(1.0, np.abs(value))))

    keep = valid(xy[:, 0]) & valid(xy[:, 1])
    cols = np.minimum(np.floor(xy[keep, 0] * width), width - 1).astype(np.int64)
    rows = np.minimum(np.floor(xy[keep, 1] * height), height - 1).astype(np.int64)
    return rows, cols


@lru_cache(maxsize=1)
def mediapipe_stamp() -> tuple[tuple[int, int], ...]:
    """(row, col) offsets MediaPipe lights around a landmark with ``DrawingSpec(thickness=1, circle_radius=0)``.

    ``draw_landmarks`` draws ``cv2.circle(radius=max(0 + 1, int(0 * 1.2)) = 1, thickness=1)`` as the border and then
    ``cv2.circle(radius=0)``: the offsets are read off OpenCV itself, so the rendering is OpenCV's pixel for pixel.
    """
    canvas = np.zeros((7, 7), np.uint8)
    cv2.circle(canvas, (3, 3), 1, 255, 1)
    cv2.circle(canvas, (3, 3), 0, 255, 1)
    return tuple((int(r) - 3, int(c) - 3) for r, c in np.argwhere(canvas))


def stamped_pixels(rows: np.ndarray, cols: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel the :func:`mediapipe_stamp` of each (row, col) covers inside the image (OpenCV clips the same)."""
    offsets = np.array(mediapipe_stamp(), dtype=np.int64)
    all_rows = (rows[:, None] + offsets[None, :, 0]).reshape(-1)
    all_cols = (cols[:, None] + offsets[None, :, 1]).reshape(-1)
    inside = (all_rows >= 0) & (all_rows < height) & (all_cols >= 0) & (all_cols < width)
    return all_rows[inside], all_cols[inside]


def render_landmarks(
    landmarks: np.ndarray | None,
    size: int | tuple[int, int] = 512,
    channels: int = 3,
    style: str = DEFAULT_STYLE,
) -> np.ndarray:
    """The landmark image of ``landmarks`` on black, of ``size`` (int or (height, width)), uint8.

    ``style="mediapipe"`` (default) is byte for byte what the authors drew with
    ``mediapipe.solutions.drawing_utils.draw_landmarks(np.zeros(crop.shape, uint8), face,
    landmark_drawing_spec=DrawingSpec(color=WHITE_COLOR, thickness=1, circle_radius=0))``: a 5-pixel plus at grey
    224 per point (:func:`mediapipe_stamp`). ``style="pixel"`` is the paper's text: one white (255) pixel per point.
    ``None`` (no landmarks found) gives an all-black image: the paper feeds it to the generator, which then
    synthesises an "average face".
    """
    check_style(style)
    height, width = (size, size) if isinstance(size, int) else size
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = np.zeros(shape, dtype=np.uint8)
    if landmarks is not None and len(landmarks):
        if style == "pixel":
            rows, cols = landmark_pixels(landmarks, height, width)
            image[rows, cols] = PIXEL_WHITE
        else:
            rows, cols = stamped_pixels(*mediapipe_pixels(landmarks, height, width), height, width)
            image[rows, cols] = MEDIAPIPE_GREY
    return image
