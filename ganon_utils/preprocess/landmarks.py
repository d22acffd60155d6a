"""Facial landmarks (paper section 3.3): 478 MediaPipe face-mesh points and their 1-pixel rendering.

Landmarks are stored as coordinates, not images: (478, 3) float32 with x and y normalised to the
aligned face's width and height (MediaPipe's convention) and z in the same scale as x. The landmark
image the generator sees is made on demand by :func:`render_landmarks` at any size.
"""

from __future__ import annotations

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


def landmark_pixels(landmarks: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer (rows, cols) of the landmarks that fall inside an image of the given size.

    A normalised coordinate u maps to pixel floor(u * size); points outside [0, 1) are dropped rather
    than clipped, so no spurious points appear on the border.
    """
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    cols = np.floor(xy[:, 0] * width).astype(np.int64)
    rows = np.floor(xy[:, 1] * height).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    return rows[inside], cols[inside]


def render_landmarks(landmarks: np.ndarray | None, size: int | tuple[int, int] = 512, channels: int = 3) -> np.ndarray:
    """Draw each landmark as one white pixel on a black image of ``size`` (int or (height, width)).

    ``None`` (no landmarks found) gives an all-black image: the paper feeds it to the generator,
    which then synthesises an "average face".
    """
    height, width = (size, size) if isinstance(size, int) else size
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = np.zeros(shape, dtype=np.uint8)
    if landmarks is not None and len(landmarks):
        rows, cols = landmark_pixels(landmarks, height, width)
        image[rows, cols] = 255
    return image
