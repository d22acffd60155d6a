"""Face detection backends: every face in an image, with a box and both eye centres.

Backends:
- ``blazeface``: MediaPipe BlazeFace (full-range model), ships inside the mediapipe wheel; offline default.
- ``retinaface``: RetinaFace via the ``retina-face`` package, the paper's detector; needs its weight file
  (see :mod:`ganon_utils.weights`).

Eye naming follows the subject: ``right_eye`` is the subject's right eye, which appears on the image's
left side in a frontal, upright photo. Alignment only needs the vector from right to left eye.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ganon_utils.library_logs import WARM_UP_IMAGE, filtered_native_stderr
from ganon_utils.weights import require_weight


@dataclass(frozen=True)
class FaceDetection:
    """One detected face in pixel coordinates of the image it was found in."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    right_eye: tuple[float, float]  # subject's right eye (x, y)
    left_eye: tuple[float, float]  # subject's left eye (x, y)
    score: float


class FaceDetector(Protocol):
    """Finds all faces in an RGB uint8 image."""

    name: str

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]: ...


def order_faces(faces: list[FaceDetection]) -> list[FaceDetection]:
    """Sort faces left to right (then top to bottom) so face indices are stable across backends."""
    return sorted(faces, key=lambda f: (round(f.box[0], 1), round(f.box[1], 1)))


class BlazeFaceDetector:
    """MediaPipe BlazeFace; the full-range model also finds the small faces of group photos."""

    name = "blazeface"

    def __init__(self, min_confidence: float = 0.5, full_range: bool = True) -> None:
        import mediapipe as mp

        with filtered_native_stderr():
            self._model = mp.solutions.face_detection.FaceDetection(
                model_selection=1 if full_range else 0, min_detection_confidence=min_confidence
            )
            self._model.process(WARM_UP_IMAGE)  # the graph opens its calculators (and logs) on its own threads

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        height, width = rgb.shape[:2]
        with filtered_native_stderr():
            result = self._model.process(np.ascontiguousarray(rgb))
        faces = []
        for detection in result.detections or []:
            rel = detection.location_data.relative_bounding_box
            keypoints = detection.location_data.relative_keypoints
            x0, y0 = rel.xmin * width, rel.ymin * height
            faces.append(
                FaceDetection(
                    box=(x0, y0, x0 + rel.width * width, y0 + rel.height * height),
                    right_eye=(keypoints[0].x * width, keypoints[0].y * height),
                    left_eye=(keypoints[1].x * width, keypoints[1].y * height),
                    score=float(detection.score[0]),
                )
            )
        return order_faces(faces)


class RetinaFaceDetector:
    """RetinaFace (retina-face package) as in the paper; the weight file must be present."""

    name = "retinaface"

    def __init__(self, threshold: float = 0.9, allow_upscaling: bool = True) -> None:
        require_weight("retinaface")  # fail fast, before the package tries the network
        os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "pytorch")
        from retinaface import RetinaFace

        self._retinaface = RetinaFace
        self._model = RetinaFace.build_model()
        self.threshold = threshold
        self.allow_upscaling = allow_upscaling

    def __call__(self, rgb: np.ndarray) -> list[FaceDetection]:
        found = self._retinaface.detect_faces(
            np.ascontiguousarray(rgb[..., ::-1]),  # the package expects BGR arrays
            threshold=self.threshold,
            model=self._model,
            allow_upscaling=self.allow_upscaling,
        )
        if not isinstance(found, dict):
            return []
        faces = []
        for face in found.values():
            marks = face["landmarks"]
            faces.append(
                FaceDetection(
                    box=tuple(float(v) for v in face["facial_area"]),
                    right_eye=tuple(float(v) for v in marks["right_eye"]),
                    left_eye=tuple(float(v) for v in marks["left_eye"]),
                    score=float(face["score"]),
                )
            )
        return order_faces(faces)


DETECTORS = {"blazeface": BlazeFaceDetector, "retinaface": RetinaFaceDetector}
DETECTOR_WEIGHTS = {"retinaface": "retinaface"}  # backend -> weight file key (ganon_utils.weights)


def build_detector(name: str, **options: object) -> FaceDetector:
    """Construct the detector backend ``name`` (see :data:`DETECTORS`)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose one of {sorted(DETECTORS)}")
    return DETECTORS[name](**options)
