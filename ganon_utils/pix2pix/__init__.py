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
from ganon_utils.pix2pix.losses import (
    LAMBDA_PIXEL,
    adversarial_loss_lsgan,
    discriminator_loss,
    generator_loss,
)
from ganon_utils.pix2pix.networks import Discriminator, GeneratorUNet, UNetDown, UNetUp
from ganon_utils.pix2pix.training_step import Pix2PixOptimizers, train_step

__all__ = [
    "CHECKPOINT_FORMAT",
    "LAMBDA_PIXEL",
    "Discriminator",
    "GeneratorUNet",
    "Pix2PixOptimizers",
    "TrainingState",
    "UNetDown",
    "UNetUp",
    "adversarial_loss_lsgan",
    "discriminator_loss",
    "generator_loss",
    "load_generator",
    "load_training_state",
    "restore_training_state",
    "save_checkpoint",
    "train_step",
]
