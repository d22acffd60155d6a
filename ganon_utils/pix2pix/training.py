"""Training pix2pix on (landmark image -> face) pairs from the preprocessing stage (paper section 3.4).

Output folder::

    config.json                  the configuration and the training data (a folder resumes only with these)
    checkpoints/epoch_XXX.pt     full training state after epoch XXX (1-based; every ``checkpoint_every`` epochs)
    checkpoints/last.pt          the latest state; what ``resume`` continues from
    samples/epoch_XXX.png        landmarks | real | generated, one row per fixed sample face
    log.csv                      one row per epoch: mean losses, seconds, images per second

Every file is written atomically. Resuming restores the networks, both optimisers and the epoch and
step counters; the data order of an epoch depends only on ``seed + epoch`` and its dropout masks only
on (seed, epoch, process rank). On a CPU an interrupted run therefore ends with exactly the weights of
an uninterrupted one.

Speed (on CUDA): landmark images are rendered on the GPU from the coordinates, the step runs the
generator once (:func:`ganon_utils.pix2pix.training_step.train_step`), under bf16 autocast, in
channels-last memory format, with fused Adam and optionally ``torch.compile``. Several GPUs:
``torchrun --nproc_per_node N -m ganon_utils train ...`` (DistributedDataParallel; rank 0 writes the files).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ganon_utils.atomic_files import atomic_path, write_csv_atomic, write_text_atomic
from ganon_utils.cli_arguments import CommandParser, device_name, float_at_least, int_at_least
from ganon_utils.devices import configure_cuda, resolve_device
from ganon_utils.image_io import save_png
from ganon_utils.library_logs import quiet_python_loggers
from ganon_utils.pix2pix.checkpoints import (
    TrainingState,
    load_training_state,
    restore_training_state,
    save_checkpoint,
)
from ganon_utils.pix2pix.data import FaceLandmarkDataset, make_loader, read_face_table
from ganon_utils.pix2pix.losses import LAMBDA_PIXEL
from ganon_utils.pix2pix.networks import BASE_CHANNELS, DEFAULT_NUM_DOWNS, Discriminator, GeneratorUNet, generator_min_size
from ganon_utils.pix2pix.render import render_landmarks_torch
from ganon_utils.pix2pix.training_step import BETAS, LEARNING_RATE, LOSS_NAMES, Pix2PixOptimizers, train_step
from ganon_utils.preprocess.landmarks import DEFAULT_STYLE, LANDMARK_STYLES
from ganon_utils.run_settings import setting_changes
from ganon_utils.stages import PathLike

LOG_COLUMNS = ("epoch", "step", *LOSS_NAMES, "seconds", "images_per_s")
"""Columns of log.csv: completed epochs, completed steps, mean losses of the epoch, its wall time, throughput."""
RESUMABLE_FIELDS = frozenset(
    {"epochs", "num_workers", "device", "compile", "checkpoint_every", "sample_every_epoch", "sample_faces", "sample_split"}
)
"""TrainConfig fields that may differ when a run is resumed: run length, hardware, bookkeeping. All others
determine what is trained and must match."""
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a pix2pix training run; the defaults are the paper's (section 3.4).

    Attributes:
        image_size: side of the square training images (512 in the paper); a multiple of ``2 ** num_downs``.
        batch_size, epochs, lr, betas, lambda_pixel: the paper's 32, 25, 2e-4, (0.5, 0.999), 100.
        num_downs, base_channels: generator depth and width (``base_channels`` also sets the
            discriminator's width). Keep 8 and 64 (the paper's and the authors' checkpoints'); smaller
            values only make tiny demo and test models.
        num_workers: DataLoader worker processes reading face images.
        seed: seeds the weight initialisation, dropout and the data order (epoch e uses seed + e).
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        bf16: bf16 autocast for the networks (CUDA only; losses and weights stay float32).
        channels_last: channels-last memory format (CUDA only).
        compile: ``torch.compile`` both networks (pays off for long runs on a GPU).
        max_steps_per_epoch: stop each epoch after this many steps (demos); None runs whole epochs.
        drop_last: drop the last incomplete batch of an epoch (the reference keeps it).
        train_split: split of faces.csv to train on, or several joined by ``+`` (``"train+test"``, the authors'
            CelebA folders); None: ``"train"`` when that split exists, else every face.
        faces_without_landmarks: also train on the faces where no landmarks were found, each paired with an
            all-black landmark image (the authors' code kept them: how their generator learnt the "average face").
        sample_split: split the sample faces come from; None: ``"val"`` when it exists, else the training faces.
        sample_faces: rows of the sample grid (the first faces of the sample split, always the same).
        sample_every_epoch: write samples/epoch_XXX.png after every epoch (else only after the last).
        checkpoint_every: write checkpoints/epoch_XXX.pt every this many epochs (last.pt after every epoch).
        landmark_style: how the condition is drawn: ``mediapipe`` (the authors' code, so their published
            generators; default) or ``pixel`` (the paper's text). Recorded in every checkpoint, so the
            anonymiser draws what the generator was trained on.
    """

    image_size: int = 512
    batch_size: int = 32
    epochs: int = 25
    lr: float = LEARNING_RATE
    betas: tuple[float, float] = BETAS
    lambda_pixel: float = float(LAMBDA_PIXEL)
    num_downs: int = DEFAULT_NUM_DOWNS
    base_channels: int = BASE_CHANNELS
    num_workers: int = 4
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False
    max_steps_per_epoch: int | None = None
    drop_last: bool = False
    train_split: str | None = None
    faces_without_landmarks: bool = False
    sample_split: str | None = None
    sample_faces: int = 4
    sample_every_epoch: bool = True
    checkpoint_every: int = 1
    landmark_style: str = DEFAULT_STYLE

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        step = generator_min_size(self.num_downs)
        if self.image_size < step or self.image_size % step:
            raise ValueError(
                f"image_size must be a positive multiple of 2 ** num_downs = {step} (num_downs={self.num_downs}), "
                f"got {self.image_size}"
            )
        if self.landmark_style not in LANDMARK_STYLES:
            raise ValueError(f"landmark_style must be one of {', '.join(LANDMARK_STYLES)}, got {self.landmark_style!r}")
        positive = {"batch_size": self.batch_size, "base_channels": self.base_channels, "checkpoint_every": self.checkpoint_every}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.epochs < 0 or self.num_workers < 0 or self.sample_faces < 0:
            raise ValueError("epochs, num_workers and sample_faces must be >= 0")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ValueError(f"max_steps_per_epoch must be None or >= 1, got {self.max_steps_per_epoch}")
        if not self.lr > 0 or len(self.betas) != 2:
            raise ValueError(f"lr must be > 0 and betas a pair, got lr={self.lr}, betas={self.betas}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON- and checkpoint-safe); ``betas`` becomes a list."""
        values = asdict(self)
        values["betas"] = list(self.betas)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not be ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {unknown}")
        return cls(**dict(values))


@dataclass(frozen=True)
class TrainResult:
    """What a call to :func:`train` did and where its outputs are."""

    output_dir: Path
    log: pd.DataFrame
    last_checkpoint: Path
    epochs_completed: int
    steps_completed: int
    resumed_from_epoch: int
    device: str
    world_size: int = 1


@dataclass(frozen=True)
class DistributedRun:
    """This process's place in a multi-process (DDP) run; ``world_size`` 1 is a plain single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes every file (config, checkpoints, samples, log) and shows the progress bars."""
        return self.rank == 0


@dataclass(frozen=True)
class EpochStats:
    """Mean losses, steps, images and wall time of one epoch."""

    losses: dict[str, float]
    steps: int
    images: int
    seconds: float


# ---------------------------------------------------------------------------------------------------
# Set-up: device, data, networks
# ---------------------------------------------------------------------------------------------------


def distributed_run_from_env(environ: Mapping[str, str] = os.environ) -> DistributedRun:
    """Rank, world size and local rank as torchrun sets them (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""
    return DistributedRun(
        rank=int(environ.get("RANK", "0")),
        world_size=int(environ.get("WORLD_SIZE", "1")),
        local_rank=int(environ.get("LOCAL_RANK", "0")),
    )


def start_process_group(run: DistributedRun, device: torch.device) -> bool:
    """Join the torchrun process group (NCCL on GPUs, Gloo on CPUs); True when this call started it."""
    if not run.enabled or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def per_process_batch_size(config: TrainConfig, run: DistributedRun) -> int:
    """``config.batch_size`` is the global batch (the paper's 32), split evenly over the processes."""
    if config.batch_size % run.world_size:
        raise ValueError(f"batch_size {config.batch_size} (global) must be divisible by the number of processes {run.world_size}")
    return config.batch_size // run.world_size


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the global torch generator (dropout) for one epoch of one process.

    Re-seeding per epoch makes every epoch's dropout masks a function of (seed, epoch, rank) alone, so a
    resumed run draws the same masks as an uninterrupted one, and the processes of a DDP run differ.
    """
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def resolve_splits(preprocess_dir: PathLike, config: TrainConfig) -> tuple[str | None, str | None]:
    """(training split, sample split) with the defaults of :class:`TrainConfig` applied."""
    splits = set(read_face_table(preprocess_dir)["split"])
    train_split = config.train_split if config.train_split is not None else ("train" if "train" in splits else None)
    sample_split = config.sample_split if config.sample_split is not None else ("val" if "val" in splits else train_split)
    return train_split, sample_split


def build_networks(config: TrainConfig, device: torch.device) -> tuple[GeneratorUNet, Discriminator]:
    """Generator and discriminator initialised from ``config.seed`` (N(0, 0.02) convolutions), on ``device``."""
    torch.manual_seed(config.seed)
    generator = GeneratorUNet(num_downs=config.num_downs, base_channels=config.base_channels)
    discriminator = Discriminator(base_channels=config.base_channels)
    memory_format = torch.channels_last if uses_channels_last(config, device) else torch.preserve_format
    return (
        generator.to(device).to(memory_format=memory_format),
        discriminator.to(device).to(memory_format=memory_format),
    )


def autocast_dtype_for(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bfloat16 on CUDA when ``config.bf16``; None (float32) elsewhere."""
    return torch.bfloat16 if config.bf16 and device.type == "cuda" else None


def uses_channels_last(config: TrainConfig, device: torch.device) -> bool:
    return config.channels_last and device.type == "cuda"


def maybe_compile(module: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(module)`` with static shapes when enabled (the batch size is fixed), else the module."""
    if not enabled:
        return module
    quiet_python_loggers()  # Inductor's CUDA_HOME warning on machines without a GPU
    return torch.compile(module, dynamic=False)  # type: ignore[return-value]


def wrap_for_training(
    generator: nn.Module, discriminator: nn.Module, run: DistributedRun, device: torch.device, compile_networks: bool
) -> tuple[nn.Module, nn.Module]:
    """DDP wrappers in a multi-process run (gradients averaged over processes), then optional torch.compile.

    ``train_step`` freezes all of the discriminator's parameters during the generator update, so none of
    its DDP gradient hooks fires in that backward pass and no reduction is left pending; the
    discriminator update then fires all of them. No ``find_unused_parameters`` graph walk is needed.
    The networks hold no buffers (instance norm without running statistics), so none are broadcast.
    """
    if run.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        generator = DistributedDataParallel(generator, device_ids=device_ids)
        discriminator = DistributedDataParallel(discriminator, device_ids=device_ids)
    return maybe_compile(generator, compile_networks), maybe_compile(discriminator, compile_networks)


# ---------------------------------------------------------------------------------------------------
# The output folder: configuration record, resuming, log
# ---------------------------------------------------------------------------------------------------


def run_record(
    config: TrainConfig,
    preprocess_dir: PathLike,
    train_split: str | None,
    train_faces: int,
    world_size: int = 1,
    crop_size: int | None = None,
) -> dict[str, Any]:
    """What config.json and every checkpoint store: the configuration, the training data (``crop_size``: the side
    the landmark images are drawn at before they are resized to ``image_size``), the process count."""
    settings = config.to_dict()
    if not config.faces_without_landmarks:  # runs from before the option hold no such key
        settings.pop("faces_without_landmarks")
    return {
        "config": settings,
        "data": {
            "preprocess_dir": str(Path(preprocess_dir).resolve()),
            "train_split": train_split,
            "train_faces": int(train_faces),
            "crop_size": None if crop_size is None else int(crop_size),
        },
        "world_size": int(world_size),
    }


def stage01_crop_size(preprocess_dir: PathLike) -> int | None:
    """The side of the stage-01 face crops (their config.json), at which the landmark images are drawn."""
    path = Path(preprocess_dir) / "config.json"
    if not path.is_file():
        return None
    size = json.loads(path.read_text()).get("image_size")
    return int(size) if isinstance(size, int) else None


def record_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The settings that differ between two run records (with both values), ignoring :data:`RESUMABLE_FIELDS`.

    The data folder's path may change (a moved folder); the split and the number of faces may not.
    """

    def fixed(record: Mapping[str, Any]) -> dict[str, Any]:
        config = {k: v for k, v in dict(record.get("config", {})).items() if k not in RESUMABLE_FIELDS}
        data = {k: v for k, v in dict(record.get("data", {})).items() if k in ("train_split", "train_faces", "crop_size")}
        return {"config": config, "data": data}

    return setting_changes(fixed(saved), fixed(current))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def prepare_output_dir(output_dir: Path, record: Mapping[str, Any], resume: bool) -> TrainingState | None:
    """Check the folder against ``record``; return the state to resume from, or None to start afresh.

    Raises:
        FileExistsError: ``resume`` is False but the folder already holds a checkpoint.
        ValueError: the folder was made with another configuration or other training data.
    """
    last = output_dir / CHECKPOINTS / LAST_CHECKPOINT
    if not resume:
        if last.is_file():
            raise FileExistsError(
                f"{output_dir} already holds a training run ({last}); resume it, or use a new output folder "
                "(or delete this one) to start over"
            )
        return None
    state = load_training_state(last) if last.is_file() else None
    config_path = output_dir / "config.json"
    saved = state.config if state is not None else (read_json(config_path) if config_path.is_file() else None)
    if saved is not None:
        differences = record_differences(saved, record)
        if differences:
            raise ValueError(
                f"{output_dir} was made with another training configuration (differs in: {', '.join(differences)}); "
                "use a new output folder, or pass the same settings to resume it"
            )
    return state


def read_log(output_dir: Path, up_to_epoch: int) -> pd.DataFrame:
    """Rows of log.csv for epochs 1 .. ``up_to_epoch`` (rows of an epoch that is redone are dropped)."""
    path = output_dir / "log.csv"
    if not path.is_file() or up_to_epoch == 0:
        return pd.DataFrame(columns=list(LOG_COLUMNS))
    log = pd.read_csv(path)
    return log[log["epoch"] <= up_to_epoch].reset_index(drop=True)


def append_row(log: pd.DataFrame, row: Mapping[str, Any]) -> pd.DataFrame:
    """``log`` plus one row with the :data:`LOG_COLUMNS`."""
    new_row = pd.DataFrame([{column: row[column] for column in LOG_COLUMNS}])
    return new_row if log.empty else pd.concat([log, new_row], ignore_index=True)


def copy_file_atomic(source: Path, destination: Path) -> None:
    """Copy ``source`` onto ``destination`` through a temporary sibling and ``os.replace``."""
    with atomic_path(destination) as temporary:
        shutil.copyfile(source, temporary)


def epoch_name(epoch: int) -> str:
    """``epoch_007`` for the state after 7 completed epochs."""
    return f"epoch_{epoch:03d}"


# ---------------------------------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------------------------------


def sample_batch(dataset: FaceLandmarkDataset, count: int) -> tuple[Tensor, Tensor]:
    """The first ``count`` faces and their landmark coordinates: the same rows every epoch."""
    items = [dataset[index] for index in range(min(count, len(dataset)))]
    return torch.stack([face for face, _ in items]), torch.stack([coords for _, coords in items])


@torch.no_grad()
def generate(generator: nn.Module, landmarks: Tensor, autocast_dtype: torch.dtype | None = None) -> Tensor:
    """The generator's output for ``landmarks`` in eval mode (no dropout), float32 in [-1, 1]."""
    was_training = generator.training
    generator.eval()
    try:
        if autocast_dtype is None:
            fake = generator(landmarks)
        else:
            with torch.autocast(device_type=landmarks.device.type, dtype=autocast_dtype):
                fake = generator(landmarks)
    finally:
        generator.train(was_training)
    return fake.float()


def to_uint8_images(batch: Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8."""
    scaled = ((batch.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def sample_grid(landmarks: Tensor, real: Tensor, fake: Tensor, *, dilate: int = 3) -> np.ndarray:
    """One row per face: landmark image | real face | generated face, as an (B*H, 3*W, 3) uint8 image.

    Landmark pixels are dilated by a ``dilate`` x ``dilate`` max filter for display only (single pixels
    vanish when the grid is shown scaled down).
    """
    if dilate > 1:
        landmarks = F.max_pool2d(landmarks.float(), dilate, stride=1, padding=dilate // 2)
    columns = [to_uint8_images(t) for t in (landmarks, real, fake)]
    rows = [np.concatenate([column[i] for column in columns], axis=1) for i in range(real.shape[0])]
    return np.concatenate(rows, axis=0)


def write_samples(
    path: Path,
    generator: nn.Module,
    faces: Tensor,
    coords: Tensor,
    image_size: int,
    autocast_dtype: torch.dtype | None,
    style: str = DEFAULT_STYLE,
    crop_size: int | None = None,
) -> Path:
    """Render, generate and save the sample grid for the fixed sample faces."""
    device = next(generator.parameters()).device
    landmarks = render_landmarks_torch(coords.to(device), image_size, channels=faces.shape[1], style=style, crop_size=crop_size)
    fake = generate(generator, landmarks, autocast_dtype)
    save_png(path, sample_grid(landmarks, faces, fake))
    return path


# ---------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------


def run_epoch(
    generator: nn.Module,
    discriminator: nn.Module,
    optimizers: Pix2PixOptimizers,
    loader: torch.utils.data.DataLoader,
    config: TrainConfig,
    device: torch.device,
    *,
    progress_bar: Any = None,
    crop_size: int | None = None,
) -> EpochStats:
    """One pass over ``loader`` (at most ``config.max_steps_per_epoch`` steps); mean losses per step.

    The landmark images are drawn at ``crop_size`` (the stage-01 crops') and resized to ``config.image_size``, as in
    the authors' pipeline and at inference (:class:`ganon_utils.anonymize.synthesis.FaceSynthesizer`)."""
    autocast_dtype = autocast_dtype_for(config, device)
    channels_last = uses_channels_last(config, device)
    totals = dict.fromkeys(LOSS_NAMES, 0.0)
    steps = images = 0
    start = time.perf_counter()
    for faces, coords in loader:
        real = faces.to(device, non_blocking=True)
        landmarks = render_landmarks_torch(coords.to(device, non_blocking=True), config.image_size, channels=real.shape[1],
                                           style=config.landmark_style, crop_size=crop_size)  # fmt: skip
        losses = train_step(
            generator,
            discriminator,
            optimizers.generator,
            optimizers.discriminator,
            landmarks,
            real,
            autocast_dtype=autocast_dtype,
            channels_last=channels_last,
            lambda_pixel=config.lambda_pixel,
        )
        for name, value in losses.items():
            totals[name] += value
        steps += 1
        images += real.shape[0]
        if progress_bar is not None:
            progress_bar.update()
            progress_bar.set_postfix(loss_g=f"{losses['loss_g']:.3f}", loss_d=f"{losses['loss_d']:.3f}")
        if config.max_steps_per_epoch is not None and steps >= config.max_steps_per_epoch:
            break
    seconds = time.perf_counter() - start
    means = {name: total / max(steps, 1) for name, total in totals.items()}
    return EpochStats(means, steps, images, seconds)


def reduce_epoch_stats(stats: EpochStats, run: DistributedRun, device: torch.device) -> EpochStats:
    """Losses averaged over all processes' steps and images summed (one all-reduce per epoch)."""
    if not run.enabled:
        return stats
    values = [stats.losses[name] * stats.steps for name in LOSS_NAMES] + [stats.steps, stats.images]
    summed = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(summed)
    *loss_sums, all_steps, all_images = summed.tolist()
    losses = {name: total / max(all_steps, 1) for name, total in zip(LOSS_NAMES, loss_sums)}
    return EpochStats(losses, stats.steps, int(all_images), stats.seconds)


def steps_per_epoch(loader: torch.utils.data.DataLoader, config: TrainConfig) -> int:
    batches = len(loader)
    return batches if config.max_steps_per_epoch is None else min(batches, config.max_steps_per_epoch)


def train(
    preprocess_dir: PathLike,
    output_dir: PathLike,
    config: TrainConfig = TrainConfig(),
    *,
    resume: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train pix2pix (landmark image -> face) on the faces with landmarks in ``preprocess_dir``.

    Under ``torchrun --nproc_per_node N`` every process trains on its share of each batch with
    DistributedDataParallel (``config.batch_size`` stays the global batch) and rank 0 writes the files.

    Args:
        preprocess_dir: output folder of the preprocessing stage (read only).
        output_dir: where checkpoints, samples, log.csv and config.json go (created).
        config: the run's settings (:class:`TrainConfig`; defaults are the paper's).
        resume: continue from ``output_dir/checkpoints/last.pt`` when it exists (refused when the folder
            was made with another configuration). False starts afresh and refuses a folder that already
            holds a checkpoint.
        progress: report progress (a live bar in a terminal or JupyterLab, a line per epoch elsewhere).

    Returns:
        A :class:`TrainResult`; its ``log`` has one row per completed epoch of the whole run.
    """
    run = distributed_run_from_env()
    device = resolve_device(config.device, run.local_rank)
    started_group = start_process_group(run, device)
    try:
        return _train(Path(preprocess_dir), Path(output_dir), config, run, device, resume=resume, progress=progress)
    finally:
        if started_group:
            dist.destroy_process_group()


def _train(
    preprocess_dir: Path,
    output_dir: Path,
    config: TrainConfig,
    run: DistributedRun,
    device: torch.device,
    *,
    resume: bool,
    progress: bool,
) -> TrainResult:
    from ganon_utils.progress import progress_bar

    batch_size = per_process_batch_size(config, run)
    train_split, sample_split = resolve_splits(preprocess_dir, config)
    dataset = FaceLandmarkDataset(
        preprocess_dir, train_split, config.image_size, without_landmarks=config.faces_without_landmarks
    )
    crop_size = stage01_crop_size(preprocess_dir)
    record = run_record(config, preprocess_dir, train_split, len(dataset), run.world_size, crop_size)
    state = prepare_output_dir(output_dir, record, resume)
    if run.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(output_dir / "config.json", json.dumps(record, indent=1, sort_keys=True) + "\n")

    if device.type == "cuda":
        configure_cuda()
    generator, discriminator = build_networks(config, device)
    optimizers = Pix2PixOptimizers.create(generator, discriminator, lr=config.lr, betas=config.betas)
    start_epoch = step = 0
    if state is not None:
        restore_training_state(state, generator, discriminator, optimizers.generator, optimizers.discriminator)
        start_epoch, step = state.epoch, state.step
    train_generator, train_discriminator = wrap_for_training(generator, discriminator, run, device, config.compile)

    loader = make_loader(
        dataset,
        batch_size,
        num_workers=config.num_workers,
        shuffle=True,
        seed=config.seed,
        drop_last=config.drop_last,
        num_replicas=run.world_size,
        rank=run.rank,
    )
    if steps_per_epoch(loader, config) == 0:
        raise ValueError(f"no complete batch: {len(dataset)} training faces, batch_size {config.batch_size}, drop_last=True")
    sample_faces = sample_coords = None
    if run.is_main and config.sample_faces:
        sample_source = (
            dataset if sample_split == train_split else FaceLandmarkDataset(preprocess_dir, sample_split, config.image_size)
        )
        sample_faces, sample_coords = sample_batch(sample_source, config.sample_faces)
    autocast_dtype = autocast_dtype_for(config, device)
    log = read_log(output_dir, start_epoch)
    last = output_dir / CHECKPOINTS / LAST_CHECKPOINT
    show = progress and run.is_main

    epoch_bar = progress_bar(
        total=config.epochs, initial=min(start_epoch, config.epochs), desc="epochs", unit="epoch", disable=not show
    )
    try:
        for epoch in range(start_epoch, config.epochs):
            loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            torch.manual_seed(epoch_seed(config.seed, epoch, run.rank))
            with progress_bar(
                total=steps_per_epoch(loader, config), desc=f"epoch {epoch + 1}", unit="step", leave=False, disable=not show
            ) as step_bar:
                stats = run_epoch(train_generator, train_discriminator, optimizers, loader, config, device,
                                  progress_bar=step_bar, crop_size=crop_size)  # fmt: skip
            stats = reduce_epoch_stats(stats, run, device)
            step += stats.steps
            completed = epoch + 1
            log = append_row(
                log,
                {
                    "epoch": completed,
                    "step": step,
                    **stats.losses,
                    "seconds": round(stats.seconds, 3),
                    "images_per_s": round(stats.images / stats.seconds, 3) if stats.seconds > 0 else float("nan"),
                },
            )
            if run.is_main:
                write_epoch_outputs(output_dir, log, completed, step, config, record, generator, discriminator, optimizers)
                if (
                    sample_faces is not None
                    and sample_coords is not None
                    and (config.sample_every_epoch or completed == config.epochs)
                ):
                    write_samples(
                        output_dir / "samples" / f"{epoch_name(completed)}.png",
                        generator,
                        sample_faces,
                        sample_coords,
                        config.image_size,
                        autocast_dtype,
                        config.landmark_style,
                        crop_size,
                    )
            epoch_bar.update()
            epoch_bar.set_postfix({name: f"{value:.3f}" for name, value in stats.losses.items()})
        if run.enabled:
            dist.barrier()  # every process returns only once rank 0 has written the last epoch's files
    finally:
        epoch_bar.close()
        del loader  # stops the persistent workers now rather than at garbage collection

    return TrainResult(
        output_dir=output_dir,
        log=log,
        last_checkpoint=last,
        epochs_completed=max(start_epoch, config.epochs),
        steps_completed=step,
        resumed_from_epoch=start_epoch,
        device=str(device),
        world_size=run.world_size,
    )


def write_epoch_outputs(
    output_dir: Path,
    log: pd.DataFrame,
    completed: int,
    step: int,
    config: TrainConfig,
    record: Mapping[str, Any],
    generator: nn.Module,
    discriminator: nn.Module,
    optimizers: Pix2PixOptimizers,
) -> None:
    """log.csv first, then the checkpoint (a crash in between redoes the epoch; its log row is replaced)."""
    write_csv_atomic(output_dir / "log.csv", log)
    checkpoint_args: dict[str, Any] = dict(
        generator=generator,
        discriminator=discriminator,
        optimizer_generator=optimizers.generator,
        optimizer_discriminator=optimizers.discriminator,
        epoch=completed,
        step=step,
        config=record,
    )
    last = output_dir / CHECKPOINTS / LAST_CHECKPOINT
    if completed % config.checkpoint_every == 0 or completed == config.epochs:
        epoch_file = save_checkpoint(output_dir / CHECKPOINTS / f"{epoch_name(completed)}.pt", **checkpoint_args)
        copy_file_atomic(epoch_file, last)
    else:
        save_checkpoint(last, **checkpoint_args)


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = CommandParser(
        prog="python -m ganon_utils train",
        description="Train pix2pix (landmark image -> face) on the output of the preprocessing stage. "
        "Defaults are the paper's (512 px, batch 32, 25 epochs, Adam 2e-4, betas 0.5/0.999, L1 weight 100). "
        "An existing run in OUTPUT_DIR is resumed from checkpoints/last.pt. Several GPUs: "
        "torchrun --nproc_per_node N -m ganon_utils train ... (--batch-size stays the global batch).",
    )
    parser.add_argument("preprocess_dir", type=Path, help="output folder of 'python -m ganon_utils preprocess'")
    parser.add_argument("output_dir", type=Path, help="checkpoints/, samples/, log.csv, config.json go here")
    parser.add_argument("--epochs", type=int_at_least(1), default=defaults.epochs)
    parser.add_argument("--batch-size", type=int_at_least(1), default=defaults.batch_size)
    parser.add_argument("--image-size", type=int_at_least(1), default=defaults.image_size)
    parser.add_argument("--lr", type=float_at_least(0.0), default=defaults.lr)
    parser.add_argument("--lambda-pixel", type=float_at_least(0.0), default=defaults.lambda_pixel)
    parser.add_argument("--max-steps-per-epoch", type=int_at_least(1), default=None, help="cut every epoch short (demos)")
    parser.add_argument("--workers", type=int_at_least(0), default=defaults.num_workers, help="DataLoader worker processes")
    parser.add_argument("--device", type=device_name, default=defaults.device, help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--compile", action="store_true", help="torch.compile both networks")
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 on CUDA too")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--drop-last", action="store_true", help="drop the last incomplete batch of each epoch")
    parser.add_argument("--num-downs", type=int_at_least(1), default=defaults.num_downs, help="generator depth (8 = paper)")
    parser.add_argument(
        "--base-channels", type=int_at_least(1), default=defaults.base_channels, help="network width (64 = paper)"
    )
    parser.add_argument(
        "--train-split",
        default=None,
        help="split of faces.csv to train on, or several joined by + (train+test: the authors' CelebA "
        "folders; default: train, else all)",
    )
    parser.add_argument(
        "--faces-without-landmarks",
        action="store_true",
        help="also train on faces without landmarks, paired with a black landmark image (the authors')",
    )
    parser.add_argument("--sample-split", default=None, help="split of the sample faces (default: val, else the training split)")
    parser.add_argument("--sample-faces", type=int_at_least(0), default=defaults.sample_faces)
    parser.add_argument("--checkpoint-every", type=int_at_least(1), default=defaults.checkpoint_every)
    parser.add_argument(
        "--landmark-style",
        choices=LANDMARK_STYLES,
        default=defaults.landmark_style,
        help="how the landmark image is drawn: mediapipe (the authors' code and published generators) "
        "or pixel (one white pixel per point, the paper's text)",
    )
    parser.add_argument("--no-resume", action="store_true", help="start afresh (refused if OUTPUT_DIR holds a run)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        image_size=args.image_size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        lr=args.lr,
        lambda_pixel=args.lambda_pixel,
        num_downs=args.num_downs,
        base_channels=args.base_channels,
        num_workers=args.workers,
        seed=args.seed,
        device=args.device,
        bf16=not args.no_bf16,
        channels_last=not args.no_channels_last,
        compile=args.compile,
        max_steps_per_epoch=args.max_steps_per_epoch,
        drop_last=args.drop_last,
        train_split=args.train_split,
        faces_without_landmarks=args.faces_without_landmarks,
        sample_split=args.sample_split,
        sample_faces=args.sample_faces,
        checkpoint_every=args.checkpoint_every,
        landmark_style=args.landmark_style,
    )


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m ganon_utils train PREPROCESS_DIR OUTPUT_DIR [options]``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        result = train(args.preprocess_dir, args.output_dir, config, resume=not args.no_resume, progress=not args.no_progress)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if distributed_run_from_env().rank != 0:
        return 0
    final = result.log.iloc[-1].to_dict() if len(result.log) else {}
    print(
        f"trained {result.epochs_completed} epochs ({result.steps_completed} steps) on {result.device}; "
        f"last checkpoint {result.last_checkpoint}"
        + (f"; final loss_g {final['loss_g']:.4f}, loss_d {final['loss_d']:.4f}" if final else "")
    )
    return 0
