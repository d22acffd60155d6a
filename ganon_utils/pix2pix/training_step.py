"""One pix2pix optimisation step (generator, then discriminator), the functional core of training.

Differences from the reference step, none of which changes the objective:

- the generator runs once per step; its output, detached, is reused for the discriminator update
  (the authors' Lightning module ran the generator a second time, with a fresh dropout mask);
- the discriminator's parameters are frozen during the generator update, so no gradient is computed
  for them (the reference computed and then discarded it);
- real and fake pairs go through the discriminator as one batch: instance norm normalises each
  sample on its own, so this equals two separate calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganon_utils.pix2pix.losses import LAMBDA_PIXEL, discriminator_loss, generator_loss

LEARNING_RATE = 2e-4
BETAS = (0.5, 0.999)
LOSS_NAMES = ("loss_g", "loss_gan", "loss_pixel", "loss_d")
"""Keys of the dict returned by :func:`train_step`."""


def make_adam(
    parameters: Iterable[nn.Parameter], *, lr: float = LEARNING_RATE, betas: tuple[float, float] = BETAS
) -> torch.optim.Adam:
    """Adam with the paper's settings; the fused CUDA kernel when every parameter lives on a GPU."""
    params = list(parameters)
    on_cuda = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True if on_cuda else None)


@dataclass
class Pix2PixOptimizers:
    """The generator's and the discriminator's Adam optimisers (lr 2e-4, betas (0.5, 0.999))."""

    generator: torch.optim.Adam
    discriminator: torch.optim.Adam

    @classmethod
    def create(
        cls,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        lr: float = LEARNING_RATE,
        betas: tuple[float, float] = BETAS,
    ) -> Pix2PixOptimizers:
        """Build both optimisers; move the models to their device first (fused Adam is chosen on CUDA)."""
        return cls(
            generator=make_adam(generator.parameters(), lr=lr, betas=betas),
            discriminator=make_adam(discriminator.parameters(), lr=lr, betas=betas),
        )


@contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on the module's parameters; restore the flags on exit."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def autocast_context(device_type: str, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` for ``dtype`` (bfloat16 only: float16 would need a gradient scaler), or a no-op."""
    if dtype is None:
        return nullcontext()
    if dtype != torch.bfloat16:
        raise ValueError(f"autocast_dtype must be None or torch.bfloat16, got {dtype}")
    return torch.autocast(device_type=device_type, dtype=dtype)


def train_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    landmarks: Tensor,
    real: Tensor,
    *,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    lambda_pixel: float = LAMBDA_PIXEL,
) -> dict[str, float]:
    """Update the generator, then the discriminator, on one batch; return the losses as floats.

    Args:
        generator: maps ``landmarks`` to images; put in train mode here (dropout on).
        discriminator: scores (image, condition) pairs.
        opt_g, opt_d: the optimisers of the two networks.
        landmarks: condition batch (N, C, H, W), normalised to [-1, 1].
        real: target face batch (N, C, H, W), normalised to [-1, 1].
        autocast_dtype: ``torch.bfloat16`` to run the networks under autocast; losses stay float32.
        channels_last: pass the inputs in channels-last memory format (convert the models once with
            ``model.to(memory_format=torch.channels_last)`` for the full benefit).
        lambda_pixel: weight of the L1 term.

    Returns:
        ``{"loss_g", "loss_gan", "loss_pixel", "loss_d"}`` (one device synchronisation per step).
    """
    if landmarks.shape[0] != real.shape[0] or landmarks.shape[-2:] != real.shape[-2:]:
        raise ValueError(f"landmarks {tuple(landmarks.shape)} and real {tuple(real.shape)} must share batch and size")
    if channels_last:
        landmarks = landmarks.contiguous(memory_format=torch.channels_last)
        real = real.contiguous(memory_format=torch.channels_last)
    generator.train()
    discriminator.train()
    autocast = autocast_context(real.device.type, autocast_dtype)

    # Generator: fool the discriminator and stay close to the target (LSGAN + lambda x L1).
    with frozen_parameters(discriminator):
        with autocast:
            fake = generator(landmarks)
            pred_fake = discriminator(fake, landmarks)
        losses_g = generator_loss(pred_fake, fake, real, lambda_pixel=lambda_pixel)
    opt_g.zero_grad(set_to_none=True)
    losses_g.total.backward()
    opt_g.step()

    # Discriminator: real pairs -> 1, pairs with the (detached, pre-update) generator output -> 0.
    fake_detached = fake.detach().to(real.dtype)
    with autocast:
        pred = discriminator(torch.cat((real, fake_detached)), torch.cat((landmarks, landmarks)))
    pred_real, pred_fake_detached = pred.chunk(2)
    loss_d = discriminator_loss(pred_real, pred_fake_detached)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    values = torch.stack([losses_g.total.detach(), losses_g.gan.detach(), losses_g.pixel.detach(), loss_d.detach()]).tolist()
    return dict(zip(LOSS_NAMES, values))
