"""Figures of the training stage: a training pair, the loss curves, the latest sample grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ganon_utils.report_files import set_epoch_axis

LOSS_PANELS = (("loss_pixel", "L1 to the real face"), ("loss_gan", "generator: LSGAN"), ("loss_d", "discriminator: LSGAN"))


def tensor_to_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) float in [0, 1] for display."""
    return ((image.detach().float().permute(1, 2, 0) + 1) / 2).clamp(0, 1).cpu().numpy()


def plot_training_pair(landmark_image: torch.Tensor, face: torch.Tensor, title: str) -> Figure:
    """The generator's condition (landmark image) beside its target (the face)."""
    figure = Figure(figsize=(6, 3.2), layout="constrained")
    for ax, image, name in zip(figure.subplots(1, 2), (landmark_image, face), ("condition: landmark image", "target: face")):
        ax.imshow(tensor_to_rgb(image), interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    figure.suptitle(title, fontsize=9)
    return figure


def plot_loss_curves(log: pd.DataFrame) -> Figure:
    """Per-epoch mean losses from log.csv: L1, generator adversarial, discriminator."""
    figure = Figure(figsize=(11, 3), layout="constrained")
    for ax, (column, title) in zip(figure.subplots(1, 3), LOSS_PANELS):
        ax.plot(log["epoch"], log[column], marker="o", markersize=3)
        ax.set_title(title, fontsize=10)
        set_epoch_axis(ax)
        ax.set_ylabel("loss (mean over the epoch)" if ax is figure.axes[0] else "")
        ax.grid(alpha=0.3)
    return figure


def plot_sample_grid(grid: np.ndarray, epoch: int) -> Figure:
    """A saved sample grid (rows of landmarks | real | generated) with its column names."""
    height, width = grid.shape[:2]
    figure = Figure(figsize=(4.5, 4.5 * height / width + 0.6), layout="constrained")
    ax = figure.subplots()
    ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([(i + 0.5) * width / 3 for i in range(3)], ["landmarks", "real", "generated"])
    ax.set_yticks([])
    ax.set_title(f"epoch {epoch}", fontsize=10)
    return figure
