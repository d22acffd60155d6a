"""pix2pix losses as in the reference implementation: least-squares GAN (MSE) + 100 x L1.

The discriminator's raw patch scores are regressed to 1 (real) or 0 (fake) with a mean squared
error (LSGAN), the generator additionally pays ``LAMBDA_PIXEL`` times the mean absolute error to the
target face. Losses are computed in float32 even when the networks ran under bf16 autocast.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

LAMBDA_PIXEL = 100
"""Weight of the L1 pixel loss relative to the adversarial loss (reference: ``lambda_pixel = 100``)."""


class GeneratorLosses(NamedTuple):
    """The generator objective and its two parts (all scalar tensors)."""

    total: Tensor
    gan: Tensor
    pixel: Tensor


def adversarial_loss_lsgan(pred: Tensor, target_is_real: bool) -> Tensor:
    """Mean squared error between patch scores ``pred`` and 1 (real) or 0 (fake)."""
    pred = pred.float()
    target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
    return F.mse_loss(pred, target)


def pixel_loss(fake: Tensor, real: Tensor) -> Tensor:
    """Mean absolute error between the generated and the target image."""
    return F.l1_loss(fake.float(), real.float())


def generator_loss(pred_fake: Tensor, fake: Tensor, real: Tensor, *, lambda_pixel: float = LAMBDA_PIXEL) -> GeneratorLosses:
    """Generator objective: LSGAN loss of the discriminator's scores on ``fake`` + lambda x L1(fake, real).

    Args:
        pred_fake: discriminator scores for (generated image, condition).
        fake: generated image.
        real: target image.
        lambda_pixel: weight of the L1 term.
    """
    gan = adversarial_loss_lsgan(pred_fake, target_is_real=True)
    pixel = pixel_loss(fake, real)
    return GeneratorLosses(total=gan + lambda_pixel * pixel, gan=gan, pixel=pixel)


def discriminator_loss(pred_real: Tensor, pred_fake: Tensor) -> Tensor:
    """Discriminator objective: mean of the LSGAN losses on real pairs (target 1) and fake pairs (target 0)."""
    return 0.5 * (
        adversarial_loss_lsgan(pred_real, target_is_real=True) + adversarial_loss_lsgan(pred_fake, target_is_real=False)
    )
