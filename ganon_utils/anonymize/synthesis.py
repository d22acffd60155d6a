"""GANonymization's re-synthesis (paper section 3.4): 478 landmarks -> landmark image -> pix2pix -> new face.

Only the landmarks of a face reach the generator, so identity, hair, skin colour and accessories are
not carried over; the expression is. A face whose landmarks were not found is synthesised from an
all-black landmark image, which the trained generator turns into an "average face" (paper section 3.3).

The generator is loaded once (:meth:`FaceSynthesizer.from_checkpoint`) and run batched under
``torch.inference_mode`` in eval mode (dropout off), so the same landmarks always give the same face.
Images enter and leave the network normalised with mean = std = 0.5 per channel, as in the authors'
training and inference transforms. The landmark image is rendered at the generator's own size
(512 for the authors' models); the output is resized to the stage-01 face size when they differ.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganon_utils.devices import precision_dtype, resolve_device
from ganon_utils.library_logs import quiet_python_loggers
from ganon_utils.pix2pix.checkpoints import (
    AUTHORS_WEIGHTS_SOURCE,
    CHECKPOINT_FORMAT,
    extract_generator_state_dict,
    generator_from_state_dict,
    infer_generator_config,
    read_checkpoint,
)
from ganon_utils.pix2pix.networks import BASE_CHANNELS, DEFAULT_NUM_DOWNS, generator_min_size
from ganon_utils.preprocess.landmarks import DEFAULT_STYLE, check_style, render_landmarks
from ganon_utils.stages import PathLike

GANONYMIZATION = "ganonymization"
"""Method name of the paper's approach."""
PAPER_IMAGE_SIZE = 512
"""Side of the authors' generator input and output (and of the stage-01 faces in the paper)."""
NORMALIZE_MEAN = 0.5
NORMALIZE_STD = 0.5
IMAGE_SIZE_KEYS = ("image_size", "img_size")
"""Keys that hold the training image side in our checkpoints' ``config`` and Lightning ``hyper_parameters``."""


AUTO: Literal["auto"] = "auto"
"""``compile`` value that compiles the generator only where compilation pays (:func:`resolve_compile`)."""
AUTO_COMPILE_MIN_FACES = 256
"""Faces from which ``compile="auto"`` compiles on the CPU. Measured with benchmarks/anonymize.py on 2 cores (fp32,
paper-size generator): compilation costs about 27 s once and brings a face from 0.67 s to 0.50 s end to end, so it
pays back from about 160 faces; 256 leaves a margin for slower compilers."""
CompileChoice = bool | Literal["auto"]


def missing_checkpoint_message(path: PathLike | None) -> str:
    """What to do when GANonymization has no generator checkpoint (``path`` missing or not given)."""
    where = "no checkpoint was given" if path is None else f"checkpoint not found: {path}"
    return (
        f"GANonymization needs a trained pix2pix generator, but {where}. Either get the authors' published one "
        "with 'python -m ganon_utils fetch-weights ganonymization_publication' (it lands where the anonymize command "
        f"looks by default; the files: {AUTHORS_WEIGHTS_SOURCE}), or train a generator with "
        "notebooks/02_train_pix2pix.ipynb (python -m ganon_utils train) and pass its checkpoint "
        "(e.g. data/models/<profile>/checkpoints/last.pt)."
    )


def require_checkpoint(path: PathLike | None) -> Path:
    """``path`` as a Path when it is an existing file; FileNotFoundError naming where to get one otherwise."""
    if path is None or not Path(path).is_file():
        raise FileNotFoundError(missing_checkpoint_message(path))
    return Path(path)


def file_sha256(path: PathLike, chunk_size: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks (identifies the exact checkpoint a result came from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_kind(checkpoint: Any) -> str:
    """``"ganon_utils"`` (our training checkpoint), ``"lightning"`` (e.g. the authors') or ``"state_dict"``."""
    if isinstance(checkpoint, Mapping) and checkpoint.get("format") == CHECKPOINT_FORMAT:
        return "ganon_utils"
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        return "lightning"
    return "state_dict"


def checkpoint_image_size(checkpoint: Any) -> int | None:
    """The training image side recorded in a checkpoint, if any.

    Looked up as ``image_size`` / ``img_size`` in ``hyper_parameters`` (Lightning; the authors' files hold
    ``img_size``) and in ``config`` (ours), also one level down (``config["config"]["image_size"]``,
    the run record notebook 02 stores).
    """
    if not isinstance(checkpoint, Mapping):
        return None
    sections = [checkpoint.get("config"), checkpoint.get("hyper_parameters")]
    sections += [value for section in list(sections) if isinstance(section, Mapping) for value in section.values()]
    for section in sections:
        if isinstance(section, Mapping):
            for key in IMAGE_SIZE_KEYS:
                value = section.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    return int(value)
    return None


@dataclass(frozen=True)
class CheckpointInfo:
    """What a generator checkpoint is: format, architecture, training progress and content hash."""

    path: str
    kind: str  # ganon_utils | lightning | state_dict
    sha256: str
    num_downs: int
    base_channels: int
    parameters: int
    image_size: int | None  # training side recorded in the file, if any
    epoch: int | None
    landmark_style: str = DEFAULT_STYLE  # how its training landmark images were drawn
    training_data: Mapping[str, Any] | None = None  # notebook 02's record: preprocess_dir, train_split, train_faces

    @property
    def paper_architecture(self) -> bool:
        """True for the paper's generator layout (8 down blocks, 64 base channels)."""
        return self.num_downs == DEFAULT_NUM_DOWNS and self.base_channels == BASE_CHANNELS

    def description(self) -> str:
        """One line for report headers: file, origin, architecture, epoch."""
        origin = {
            "lightning": "PyTorch Lightning checkpoint (the format of the authors' published generators)",
            "ganon_utils": "trained with this package (notebook 02)",
            "state_dict": "bare generator state dict",
        }[self.kind]
        size = "paper-size generator" if self.paper_architecture else "reduced generator (not the paper's size)"
        epoch = "" if self.epoch is None else f", epoch {self.epoch}"
        return (
            f"{Path(self.path).name} ({origin}; {size}: {self.num_downs} down blocks, base {self.base_channels} "
            f"channels, {self.parameters / 1e6:.1f} M parameters{epoch}; landmarks drawn {self.landmark_style}-style; "
            f"sha256 {self.sha256[:12]})"
        )


def describe_checkpoint(path: PathLike) -> CheckpointInfo:
    """Read a generator checkpoint (weights only) and say what it is."""
    path = require_checkpoint(path)
    checkpoint = read_checkpoint(path, map_location="cpu")
    state_dict = extract_generator_state_dict(checkpoint)
    config = infer_generator_config(state_dict)
    epoch = checkpoint.get("epoch") if isinstance(checkpoint, Mapping) else None
    return CheckpointInfo(
        path=str(path),
        kind=checkpoint_kind(checkpoint),
        sha256=file_sha256(path),
        num_downs=config["num_downs"],
        base_channels=config["base_channels"],
        parameters=int(sum(t.numel() for t in state_dict.values())),
        image_size=checkpoint_image_size(checkpoint),
        epoch=int(epoch) if isinstance(epoch, int) else None,
        landmark_style=checkpoint_landmark_style(checkpoint),
        training_data=checkpoint_training_data(checkpoint),
    )


def checkpoint_training_data(checkpoint: Any) -> dict[str, Any] | None:
    """The training data a checkpoint of this package records (``config["data"]``: the stage-01 folder, split and
    face count); None for other checkpoints (the authors' Lightning files do not name theirs)."""
    config = checkpoint.get("config") if isinstance(checkpoint, Mapping) else None
    data = config.get("data") if isinstance(config, Mapping) else None
    return dict(data) if isinstance(data, Mapping) and data.get("preprocess_dir") else None


# ---------------------------------------------------------------------------------------------------
# Functional core: landmark images in, faces out
# ---------------------------------------------------------------------------------------------------


def landmark_images(landmarks: Sequence[np.ndarray | None], size: int, style: str = DEFAULT_STYLE) -> np.ndarray:
    """(N, size, size, 3) uint8 landmark images in ``style``; ``None`` entries give black images (average face)."""
    images = np.zeros((len(landmarks), size, size, 3), dtype=np.uint8)
    for index, points in enumerate(landmarks):
        if points is not None:
            images[index] = render_landmarks(points, size, style=style)
    return images


def images_to_input(images: Tensor, size: int | None = None) -> Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) float in [-1, 1], as the authors' ``Pix2PixTransformer``:
    ToTensor, Resize(size) when the side differs (bilinear, anti-aliased: torchvision's Resize on a tensor),
    then Normalize(0.5, 0.5)."""
    scaled = images.permute(0, 3, 1, 2).float().div_(255.0)
    if size is not None and tuple(scaled.shape[-2:]) != (size, size):
        scaled = F.interpolate(scaled, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return scaled.sub_(NORMALIZE_MEAN).div_(NORMALIZE_STD)


def checkpoint_landmark_style(checkpoint: Any) -> str:
    """How the generator's training landmark images were drawn: the style our training checkpoints record
    (``pixel`` for those made before the style was recorded), ``mediapipe`` for the authors' Lightning files and
    bare state dicts (their code drew with MediaPipe)."""
    if isinstance(checkpoint, Mapping) and checkpoint.get("format") == CHECKPOINT_FORMAT:
        config = checkpoint.get("config")
        config = config if isinstance(config, Mapping) else {}
        inner = config.get("config")
        inner = inner if isinstance(inner, Mapping) else {}
        return str(config.get("landmark_style") or inner.get("landmark_style") or "pixel")
    return DEFAULT_STYLE


def output_to_images(output: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """(N, 3, H, W) generator output in [-1, 1] -> (N, H', W', 3) uint8, resized to ``size`` (H', W') if given.

    Resizing happens before quantisation (bilinear, anti-aliased when shrinking).
    """
    images = output.mul(NORMALIZE_STD).add_(NORMALIZE_MEAN)
    if size is not None and tuple(images.shape[-2:]) != tuple(size):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    return images.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def synthesize_faces(
    generator: nn.Module,
    landmark_batch: np.ndarray,
    *,
    device: torch.device,
    output_size: tuple[int, int] | None = None,
    autocast_dtype: torch.dtype | None = None,
    input_size: int | None = None,
) -> np.ndarray:
    """Run ``generator`` on (N, S, S, 3) uint8 landmark images; (N, H, W, 3) uint8 faces out.

    ``input_size``: the generator's side; landmark images of another side are resized to it first
    (:func:`images_to_input`), as the authors' inference did with landmarks drawn at the crop's size.

    The uint8 images travel to ``device`` (4x less transfer than float) and are normalised there.
    ``autocast_dtype`` (e.g. ``torch.bfloat16``) runs the generator under autocast; outputs are float32.
    """
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None),
    ):
        batch = torch.from_numpy(np.ascontiguousarray(landmark_batch)).to(device, non_blocking=True)
        output = generator(images_to_input(batch, input_size)).float()
    if not bool(torch.isfinite(output).all()):  # would become black faces that look like a result
        raise RuntimeError("the generator produced NaN or infinite values; its weights or arithmetic are broken "
                           "(try precision fp32, or another checkpoint)")  # fmt: skip
    faces = output_to_images(output, output_size)
    return faces.cpu().numpy()


def compile_generator(generator: nn.Module) -> nn.Module:
    """``torch.compile`` for inference: static shapes, weights frozen into the graph.

    Freezing lets Inductor fold the weights as constants and pre-pack them for oneDNN on the CPU, where
    it halves the paper-size generator's time per face (fp32 outputs equal eager ones to ~1e-5). The
    first call compiles (seconds to a minute); every new input shape compiles again, so callers keep
    the batch shape fixed (:class:`FaceSynthesizer` pads the last batch).
    """
    quiet_python_loggers()  # Inductor's CUDA_HOME warning on machines without a GPU
    return torch.compile(generator, dynamic=False, options={"freezing": True})  # type: ignore[return-value]


def inductor_available(device: torch.device) -> bool:
    """True when torch.compile's Inductor can build kernels for ``device``: a C++ compiler on the CPU, Triton on CUDA."""
    if device.type == "cuda":
        return importlib.util.find_spec("triton") is not None
    compilers = (os.environ.get("CXX", ""), "c++", "g++", "clang++")
    return any(shutil.which(name) for name in compilers if name)


def resolve_compile(compile: CompileChoice, n_faces: int, device: torch.device) -> bool:
    """Whether to compile the generator for ``n_faces`` faces on ``device``.

    ``True`` / ``False`` are kept; ``"auto"`` compiles on the CPU from :data:`AUTO_COMPILE_MIN_FACES` faces on,
    where the one-time compilation is paid back, and only where Inductor can build kernels
    (:func:`inductor_available`). On a GPU ``"auto"`` runs eager: there the generator is a small part of the time
    per face and the break-even has not been measured (pass ``True`` to compile).
    """
    if compile == AUTO:
        return device.type == "cpu" and n_faces >= AUTO_COMPILE_MIN_FACES and inductor_available(device)
    if isinstance(compile, bool):
        return compile
    raise ValueError(f"compile must be True, False or {AUTO!r}, got {compile!r}")


def compile_description(compile: CompileChoice) -> str:
    """How a ``compile`` setting reads in reports."""
    if compile == AUTO:
        return f"compile auto (torch.compile on the CPU when {AUTO_COMPILE_MIN_FACES} or more faces are made, else eager)"
    return "torch.compile" if compile else "eager"


def pad_batch(batch: np.ndarray, size: int) -> np.ndarray:
    """``batch`` with all-zero items appended up to ``size`` items (a compiled generator keeps one shape)."""
    if len(batch) >= size:
        return batch
    padding = np.zeros((size - len(batch), *batch.shape[1:]), dtype=batch.dtype)
    return np.concatenate([batch, padding])


def check_image_size(image_size: int, num_downs: int) -> None:
    """Raise ValueError unless the generator accepts ``image_size`` x ``image_size`` inputs."""
    step = generator_min_size(num_downs)
    if image_size < step or image_size % step:
        raise ValueError(
            f"a generator with {num_downs} down blocks needs a side that is a positive multiple of {step}, "
            f"got {image_size}; pass image_size explicitly"
        )


class FaceSynthesizer:
    """A loaded generator that turns landmarks into faces, batched, on one device.

    Build it once (:meth:`from_checkpoint`) and call it for every batch of faces. With ``compile`` the
    generator runs through :func:`compile_generator`; the first batch fixes the batch shape, later
    batches are split or zero-padded to it so nothing compiles twice.
    """

    def __init__(
        self,
        generator: nn.Module,
        *,
        image_size: int,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        compile: bool = False,
        landmark_style: str = DEFAULT_STYLE,
        crop_size: int | None = None,
        eager_if_compile_fails: bool = False,
    ) -> None:
        self._autocast_dtype = precision_dtype(precision)
        self.landmark_style = check_style(landmark_style)
        self.crop_size = None if crop_size is None else int(crop_size)  # side its training landmarks were drawn at
        self.device = resolve_device(device)
        self.generator = generator.to(self.device).eval()
        self.image_size = int(image_size)
        self.precision = precision
        self.compiled = bool(compile)
        self._network = compile_generator(self.generator) if self.compiled else self.generator
        self._batch_shape: int | None = None  # fixed by the first batch when compiled
        self.eager_if_compile_fails = bool(eager_if_compile_fails)
        check_image_size(self.image_size, getattr(generator, "num_downs", DEFAULT_NUM_DOWNS))

    @classmethod
    def from_checkpoint(
        cls,
        path: PathLike | None,
        *,
        device: str | torch.device = "auto",
        image_size: int | None = None,
        fallback_image_size: int = PAPER_IMAGE_SIZE,
        precision: str = "fp32",
        compile: bool = False,
        eager_if_compile_fails: bool = False,
    ) -> FaceSynthesizer:
        """Load the generator of any supported checkpoint (read once, weights only) onto ``device``.

        The generator's image side is ``image_size`` when given, else the one recorded in the
        checkpoint, else ``fallback_image_size``. ``eager_if_compile_fails``: when compilation fails,
        warn and run eager instead of raising (for a compilation the caller chose automatically).
        """
        path = require_checkpoint(path)
        # Read on the CPU: a training checkpoint also holds the discriminator and optimiser states,
        # which need not visit the GPU; only the generator is moved to ``device``.
        checkpoint = read_checkpoint(path, map_location="cpu")
        try:
            generator = generator_from_state_dict(extract_generator_state_dict(checkpoint))
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{path}: {error}") from error
        size = image_size or checkpoint_image_size(checkpoint) or fallback_image_size
        crop_size = (checkpoint_training_data(checkpoint) or {}).get("crop_size")
        return cls(generator, image_size=size, device=device, precision=precision, compile=compile,
                   landmark_style=checkpoint_landmark_style(checkpoint),
                   crop_size=crop_size if isinstance(crop_size, int) else None,
                   eager_if_compile_fails=eager_if_compile_fails)  # fmt: skip

    def landmark_images(self, landmarks: Sequence[np.ndarray | None], crop_size: int | None = None) -> np.ndarray:
        """The landmark images of ``landmarks`` in the generator's training style, drawn at the side its training
        landmark images were drawn at (the training crop side its checkpoint records, ``self.crop_size``; else
        ``crop_size``, the side of the faces' own crops, as the authors drew them; else the generator's side) and
        resized to the generator's side when it runs (:func:`images_to_input`). Drawn at another side, the plus
        marks come out thicker or thinner than the generator ever saw them."""
        return landmark_images(landmarks, int(self.crop_size or crop_size or self.image_size), self.landmark_style)

    def synthesize(self, landmark_batch: np.ndarray, output_size: int | None = None) -> np.ndarray:
        """Faces for a batch of rendered landmark images, resized to ``output_size`` x ``output_size``."""
        size = None if output_size is None else (int(output_size), int(output_size))
        if not self.compiled or len(landmark_batch) == 0:
            return self._run(landmark_batch, size)
        fixed = self._batch_shape = self._batch_shape or len(landmark_batch)
        faces = []
        for start in range(0, len(landmark_batch), fixed):
            chunk = landmark_batch[start : start + fixed]
            faces.append(self._run(pad_batch(chunk, fixed), size)[: len(chunk)])
        return np.concatenate(faces)

    def _run(self, landmark_batch: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        try:
            return synthesize_faces(
                self._network,
                landmark_batch,
                device=self.device,
                output_size=size,
                autocast_dtype=self._autocast_dtype,
                input_size=self.image_size,
            )
        except torch._dynamo.exc.BackendCompilerFailed as error:  # e.g. no C++ compiler for Inductor on the CPU
            reason = str(error).strip().splitlines()[0]
            if not self.eager_if_compile_fails:
                raise RuntimeError(f"torch.compile of the generator failed: {reason}. Run without compile "
                                   "(--no-compile, or compile = False in notebook 03).") from error  # fmt: skip
            warnings.warn(f"torch.compile of the generator failed ({reason}); running it eager (same faces, slower)",
                          RuntimeWarning, stacklevel=2)  # fmt: skip
            self.compiled, self._network, self._batch_shape = False, self.generator, None
            return self._run(landmark_batch, size)

    def __call__(self, landmarks: Sequence[np.ndarray | None], output_size: int | None = None) -> np.ndarray:
        """(N, S, S, 3) uint8 faces for N landmark arrays ((478, 3) normalised, or None for an average face)."""
        return self.synthesize(self.landmark_images(landmarks), output_size)
