"""pix2pix for GANonymization: networks, losses, one training step and checkpoint I/O.

The architecture and losses follow the implementation the authors built upon (Erik Linder-Noren's
PyTorch-GAN pix2pix) with module names identical to the authors' Lightning checkpoints, so their
published generators load with :func:`load_generator`.
"""

from __future__ import annotations

from ganon_utils.pix2pix.checkpoints import (
    CHECKPOINT_FORMAT,
    TrainingState,
    load_generator,
    load_training_state,
    restore_training_state,
    save_checkpoint,
)
from ganon_utils.pix2pix.data import FaceLandmarkDataset, read_face_table
from ganon_utils.pix2pix.figures import plot_loss_curves, plot_sample_grid, plot_training_pair
from ganon_utils.pix2pix.losses import (
    LAMBDA_PIXEL,
    adversarial_loss_lsgan,
    discriminator_loss,
    generator_loss,
)
from ganon_utils.pix2pix.networks import Discriminator, GeneratorUNet, UNetDown, UNetUp
from ganon_utils.pix2pix.render import render_landmarks_torch
from ganon_utils.pix2pix.training import TrainConfig, autocast_dtype_for, resolve_splits, stage01_crop_size, train
from ganon_utils.pix2pix.training_step import Pix2PixOptimizers, train_step

__all__ = [
    "CHECKPOINT_FORMAT",
    "Discriminator",
    "FaceLandmarkDataset",
    "GeneratorUNet",
    "LAMBDA_PIXEL",
    "Pix2PixOptimizers",
    "TrainConfig",
    "TrainingState",
    "UNetDown",
    "UNetUp",
    "adversarial_loss_lsgan",
    "autocast_dtype_for",
    "discriminator_loss",
    "generator_loss",
    "load_generator",
    "load_training_state",
    "plot_loss_curves",
    "plot_sample_grid",
    "plot_training_pair",
    "read_face_table",
    "render_landmarks_torch",
    "resolve_splits",
    "restore_training_state",
    "save_checkpoint",
    "stage01_crop_size",
    "train",
    "train_step",
]
