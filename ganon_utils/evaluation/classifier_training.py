"""Training the expression classifiers of the paper's training scenario (section 4.2, Table 4, Fig. 10).

The same classifier is trained once on the original faces and once on each method's anonymised faces of the
train split, and every one is evaluated on the ORIGINAL validation faces. Recipe (the authors' classifier):
torchvision ConvNeXt-base from ImageNet weights with a new last layer, cross-entropy with class weights from
the train split, AdamW (lr 3e-4, weight decay 1e-3), learning rate reduced on a validation-loss plateau of 3
epochs, early stopping, random horizontal flip (p = 0.5), ImageNet transforms. One deviation by default where
the hardware has bf16: the networks run under bf16 autocast in channels-last layout (``precision="bf16"``, the
choice of the default ``"auto"`` on GPUs and AVX-512 CPUs; weights, optimiser and
losses stay float32), 2.5-3x faster than the authors' float32 on CPUs with bf16 and more on GPUs;
``precision="fp32"`` trains as they did; ``precision="auto"`` takes bf16 only where the device computes it
natively (on an AVX2-only CPU bf16 is emulated and 14x slower; :func:`ganon_utils.devices.has_fast_bf16`).

Each run writes ``<output_dir>/last.pt`` (the next call resumes from it) after every ``checkpoint_every`` epochs
and after its last one, ``best.pt`` (lowest validation loss, the one that is evaluated), ``log.csv`` and
``config.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ganon_utils.atomic_files import atomic_path, write_csv_atomic, write_text_atomic
from ganon_utils.devices import check_precision, configure_cuda, precision_dtype, resolve_device, resolve_precision
from ganon_utils.evaluation.classifiers import (
    CLASSIFIER_FORMAT,
    PAPER_ARCHITECTURE,
    PAPER_IMAGE_SIZE,
    classifier_transform,
    convnext_classifier,
    save_expression_classifier,
)
from ganon_utils.image_io import load_image
from ganon_utils.run_settings import setting_changes
from ganon_utils.stages import PathLike

RESUMABLE_CHANGES = ("epochs", "num_workers", "checkpoint_every")
"""Settings that may differ when a run is continued."""
LOG_COLUMNS = ["epoch", "train_loss", "val_loss", "val_accuracy", "lr"]


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyper-parameters of one classifier run (defaults: the paper's)."""

    architecture: str = PAPER_ARCHITECTURE
    pretrained: bool = True  # start from ImageNet weights (torchvision's cache file)
    image_size: int = PAPER_IMAGE_SIZE
    batch_size: int = 32
    epochs: int = 100
    lr: float = 3e-4
    weight_decay: float = 1e-3
    lr_plateau_patience: int = 3
    early_stopping_patience: int = 5  # epochs without a better validation loss before stopping
    horizontal_flip_p: float = 0.5
    class_weights: bool = True  # single-label only: cross-entropy weighted by the train split's class frequencies
    multi_label: bool = False  # one sigmoid output per class and binary cross-entropy (CelebA's attributes)
    attribute_weights: bool = False  # multi-label only: the BCE weighted per attribute, as the authors' code
    num_workers: int = 0
    seed: int = 0
    precision: str = "auto"  # "bf16": autocast + channels-last (faster); "fp32": the authors' arithmetic; "auto": bf16
    # where the device computes it natively (GPUs, AVX-512 CPUs), else fp32 (recorded as the one used)
    checkpoint_every: int | None = 1  # write last.pt (weights + optimiser, 3x the model) every this many epochs and
    # after the run's last one; None: only after the last (an interrupted run then starts again from epoch 1)

    def __post_init__(self) -> None:
        check_precision(self.precision)  # ValueError for an unknown name, before any work
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive number of epochs or None, got {self.checkpoint_every}")


class FaceImages(Dataset):
    """(image as (3, H, W) uint8, target) for a table with a ``path`` column.

    Single-label: the target is the class index of the ``label`` column. Multi-label: the float 0/1 vector
    of the class columns (one column per class name).
    """

    def __init__(self, table: pd.DataFrame, classes: Sequence[str], size: int, multi_label: bool = False) -> None:
        self.paths = table["path"].tolist()
        if multi_label:
            self.targets = torch.tensor(table[list(classes)].to_numpy(dtype=np.float32))
        else:
            index = {name: i for i, name in enumerate(classes)}
            self.targets = torch.tensor([index[label] for label in table["label"]], dtype=torch.long)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: int) -> tuple[Tensor, Tensor]:
        import cv2

        rgb = load_image(self.paths[item]).rgb
        if max(rgb.shape[:2]) > 2 * self.size:  # shrink large faces once here, not per step on the device
            rgb = cv2.resize(rgb, (2 * self.size, 2 * self.size), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1), self.targets[item]


def balanced_class_weights(labels: Sequence[str], classes: Sequence[str]) -> Tensor:
    """``n / (k * count_c)`` per class (classes absent from ``labels`` get weight 0)."""
    counts = pd.Series(list(labels)).value_counts()
    n, k = len(labels), len(classes)
    return torch.tensor([n / (k * counts[c]) if counts.get(c, 0) else 0.0 for c in classes], dtype=torch.float32)


def attribute_weights(targets: np.ndarray) -> Tensor:
    """Per column of an (N, A) 0/1 array, the mean of its two balanced class weights, ``(n / (2 n_0) + n / (2 n_1))
    / 2``: the authors' CelebA weighting (scikit-learn's ``compute_class_weight("balanced", classes=[0, 1])`` per
    attribute, averaged), larger for rarer attributes. A value absent from a column adds 0 (scikit-learn refuses
    such a column)."""
    targets = np.asarray(targets) > 0.5
    n = len(targets)
    positives = targets.sum(axis=0).astype(np.float64)
    negatives = n - positives
    with np.errstate(divide="ignore"):
        terms = np.where(positives > 0, n / (2 * positives), 0.0) + np.where(negatives > 0, n / (2 * negatives), 0.0)
    return torch.tensor(terms / 2, dtype=torch.float32)


class AttributeWeightedBCE(nn.Module):
    """Binary cross-entropy on logits, each attribute's term scaled by its weight, averaged over batch and
    attributes (``BCEWithLogitsLoss(reduction="none")`` times the weights, then the mean, as the authors)."""

    def __init__(self, weights: Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", weights.float())

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        per_term = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        return (per_term * self.get_buffer("weights")).mean()


@dataclass
class ClassifierRun:
    """Result of :func:`train_classifier`."""

    best: Path
    last: Path
    log: pd.DataFrame
    epochs_run: int  # epochs trained by this call (0 when it found a finished run)


def _loader(
    table: pd.DataFrame, classes: Sequence[str], config: ClassifierConfig, shuffle: bool, device: torch.device
) -> DataLoader:
    """Batches of uint8 faces; workers stay alive across epochs, and batches land in pinned memory for a GPU."""
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(FaceImages(table, classes, config.image_size, config.multi_label), batch_size=config.batch_size, shuffle=shuffle,
                      num_workers=config.num_workers, generator=generator, persistent_workers=config.num_workers > 0,
                      pin_memory=device.type == "cuda")  # fmt: skip


def correct_predictions(logits: Tensor, targets: Tensor) -> float:
    """Correct decisions in a batch: arg-max hits (single-label) or per-class hits at p > 0.5 / classes (multi-label)."""
    if targets.dim() == 2:
        return float(((logits > 0) == (targets > 0.5)).float().mean(dim=1).sum())
    return float((logits.argmax(dim=1) == targets).sum())


def network_input(images: Tensor, transform: nn.Module, device: torch.device, precision: str) -> Tensor:
    """uint8 (N, 3, H, W) images -> the transformed float batch on ``device`` (channels-last unless fp32)."""
    batch = transform(images.to(device, non_blocking=True).float().div_(255.0))
    return batch if precision == "fp32" else batch.contiguous(memory_format=torch.channels_last)


def run_network(model: nn.Module, batch: Tensor, precision: str) -> Tensor:
    """float32 logits of ``model`` on ``batch``, under autocast for a reduced ``precision``."""
    dtype = precision_dtype(precision)
    with torch.autocast(batch.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return model(batch).float()


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: nn.Module,
    images: Tensor,
    labels: Tensor,
    transform: nn.Module,
    device: torch.device,
    precision: str,
) -> Tensor:
    """One optimisation step on a batch of uint8 faces; returns the batch loss (detached)."""
    labels = labels.to(device)
    batch_loss = loss(run_network(model, network_input(images, transform, device, precision), precision), labels)
    optimizer.zero_grad(set_to_none=True)
    batch_loss.backward()
    optimizer.step()
    return batch_loss.detach()


def evaluate_loss(
    model: nn.Module, loader: DataLoader, transform: nn.Module, loss: nn.Module, device: torch.device, precision: str = "fp32"
) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` over ``loader`` (multi-label: mean per-class accuracy)."""
    model.eval()
    total, correct, count = 0.0, 0.0, 0
    with torch.inference_mode():
        for images, targets in loader:
            targets = targets.to(device)
            logits = run_network(model, network_input(images, transform, device, precision), precision)
            total += float(loss(logits, targets)) * len(targets)
            correct += correct_predictions(logits, targets)
            count += len(targets)
    return total / max(count, 1), correct / max(count, 1)


def train_classifier(
    train: pd.DataFrame,
    val: pd.DataFrame,
    classes: Sequence[str],
    output_dir: PathLike,
    config: ClassifierConfig = ClassifierConfig(),
    *,
    device: str = "auto",
    progress: Callable[[str], Any] | None = None,
) -> ClassifierRun:
    """Train on ``train`` (``path`` and ``label``, or one 0/1 column per class when multi-label), select by the
    loss on ``val``; resume from ``last.pt``.

    A folder made with other hyper-parameters, classes or face counts is refused (ValueError), so runs never
    mix; ``epochs`` and ``num_workers`` may change between calls (more epochs continue a run).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device_ = resolve_device(device)
    config = replace(config, precision=resolve_precision(config.precision, device_))  # "auto" -> what runs
    fixed = {k: v for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES}
    if not config.attribute_weights:  # runs from before the option hold no such key
        fixed.pop("attribute_weights")
    record = {"config": fixed, "classes": list(classes), "train_faces": len(train), "val_faces": len(val)}
    _check_record(output_dir / "config.json", record)
    if device_.type == "cuda":
        configure_cuda()
    torch.manual_seed(config.seed)
    model = convnext_classifier(len(classes), config.architecture, config.pretrained).to(device_)
    if config.precision != "fp32":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", patience=config.lr_plateau_patience)
    if config.multi_label and config.attribute_weights:
        loss: nn.Module = AttributeWeightedBCE(attribute_weights(train[list(classes)].to_numpy())).to(device_)
    elif config.multi_label:
        loss = nn.BCEWithLogitsLoss()
    else:
        weights = balanced_class_weights(train["label"].tolist(), classes) if config.class_weights else None
        loss = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device_))
    train_transform = classifier_transform(config.image_size, flip_p=config.horizontal_flip_p)
    eval_transform = classifier_transform(config.image_size)
    state: dict[str, Any] = {"epoch": 0, "best_val_loss": math.inf, "stale_epochs": 0}
    log_rows: list[dict[str, Any]] = []
    last, best = output_dir / "last.pt", output_dir / "best.pt"
    if last.is_file():
        saved = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = dict(saved["progress"])
        log_rows = pd.read_csv(output_dir / "log.csv").head(state["epoch"]).to_dict("records")
    start_epoch, epochs_run = state["epoch"], 0
    train_loader, val_loader = _loader(train, classes, config, True, device_), _loader(val, classes, config, False, device_)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if early_stopping_reached(state["stale_epochs"], config):
            break
        torch.manual_seed(config.seed + epoch)  # flips and data order per epoch: a resumed run repeats them
        train_loader.generator.manual_seed(config.seed + epoch)
        model.train()
        total, count = 0.0, 0
        for images, labels in train_loader:
            batch_loss = training_step(model, optimizer, loss, images, labels, train_transform, device_, config.precision)
            total += float(batch_loss) * len(labels)
            count += len(labels)
        val_loss, val_accuracy = evaluate_loss(model, val_loader, eval_transform, loss, device_, config.precision)
        scheduler.step(val_loss)
        improved = val_loss < state["best_val_loss"]
        state = {"epoch": epoch, "best_val_loss": min(val_loss, state["best_val_loss"]),
                 "stale_epochs": 0 if improved else state["stale_epochs"] + 1}  # fmt: skip
        extra = {"epoch": epoch, "val_loss": val_loss, "val_accuracy": val_accuracy}
        if improved:
            save_expression_classifier(best, model, classes, architecture=config.architecture, image_size=config.image_size,
                                       multi_label=config.multi_label, **extra)  # fmt: skip
        log_rows.append({"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
                         "val_accuracy": val_accuracy, "lr": optimizer.param_groups[0]["lr"]})  # fmt: skip
        write_csv_atomic(output_dir / "log.csv", pd.DataFrame(log_rows, columns=LOG_COLUMNS))
        if is_checkpoint_epoch(epoch, config, state["stale_epochs"]):
            with atomic_path(last) as temp:
                torch.save({"format": CLASSIFIER_FORMAT + "+training", "state_dict": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "progress": state}, temp)  # fmt: skip
        epochs_run += 1
        if progress is not None:
            progress(f"epoch {epoch}: train loss {log_rows[-1]['train_loss']:.4f}, val loss {val_loss:.4f}, "
                     f"val accuracy {val_accuracy:.3f}" + (" (best)" if improved else ""))  # fmt: skip
    if not best.is_file():
        raise RuntimeError(f"{output_dir}: no epoch was trained (epochs={config.epochs})")
    return ClassifierRun(best=best, last=last, log=pd.DataFrame(log_rows, columns=LOG_COLUMNS), epochs_run=epochs_run)


def early_stopping_reached(stale_epochs: int, config: ClassifierConfig) -> bool:
    """Whether ``stale_epochs`` epochs without a better validation loss end the run."""
    return stale_epochs >= config.early_stopping_patience


def is_checkpoint_epoch(epoch: int, config: ClassifierConfig, stale_epochs: int) -> bool:
    """Whether ``last.pt`` is written after ``epoch``: every ``checkpoint_every`` epochs and after the run's last
    epoch (``config.epochs``, or the one after which early stopping ends the run)."""
    last_epoch = epoch >= config.epochs or early_stopping_reached(stale_epochs, config)
    return last_epoch or (config.checkpoint_every is not None and epoch % config.checkpoint_every == 0)


def _check_record(path: Path, record: dict[str, Any]) -> None:
    """Write the run's settings; refuse a folder made with other settings."""
    text = json.dumps(record, indent=2, sort_keys=True)
    if path.is_file():
        saved = json.loads(path.read_text())
        changes = setting_changes(saved, json.loads(text))
        if changes:
            raise ValueError(f"{path.parent} holds a classifier run with other settings ({'; '.join(changes)}); "
                             "use another output folder or delete it")  # fmt: skip
        return
    write_text_atomic(path, text)
