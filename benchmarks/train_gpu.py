"""pix2pix training throughput: the authors' reference step vs. ours, printed side by side.

    python benchmarks/train_gpu.py                       # CUDA: 512 px, batch 32 (the paper's setting)
    python benchmarks/train_gpu.py --published-settings  # also the reference under the authors' Trainer flags
    python benchmarks/train_gpu.py --device cpu --image-size 256 --batch-size 2 --steps 2   # smoke test

Recipes, all on the paper's networks (54 M-parameter U-Net generator, PatchGAN discriminator), on
synthetic data made on the device (random landmark coordinates rendered each step + random faces), so
the figures measure the training step, not data loading:

(a) reference: the authors' Lightning ``training_step`` re-implemented in plain PyTorch below: float32
    with PyTorch's default backend settings (no cuDNN autotuning; cuDNN may use TF32 for convolutions),
    the other network's parameters frozen while one is updated (Lightning's ``toggle_optimizer``), the
    generator run a second time for the discriminator update, real and fake pairs through the
    discriminator in two calls, default (foreach) Adam, every loss read back to the host for logging.
    ``--published-settings`` adds a row with their Trainer's ``deterministic=True`` (deterministic
    algorithms, cuDNN benchmark off) and ``detect_anomaly=True``.
(b) ours: ``ganon_utils.pix2pix.training_step.train_step``: bf16 autocast (CUDA), channels-last,
    one generator pass, real and fake pairs in one discriminator call, fused Adam (CUDA).
(c) ours + ``torch.compile`` of both networks.

FLOPs per step are counted with ``torch.utils.flop_counter.FlopCounterMode`` on one uncompiled step
of each recipe (convolutions and matrix products, forward and backward); (c) does the same arithmetic
as (b). Achieved TFLOP/s = FLOPs per step x steps per second. Targets on one H200 (the issue): reference
187 img/s, ours >= 600 img/s. Not a test: it prints figures; nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from ganon_utils.pix2pix.losses import LAMBDA_PIXEL
from ganon_utils.pix2pix.networks import Discriminator, GeneratorUNet
from ganon_utils.pix2pix.render import render_landmarks_torch
from ganon_utils.pix2pix.training_step import BETAS, LEARNING_RATE, Pix2PixOptimizers, frozen_parameters, train_step

NUM_LANDMARKS = 478
TARGETS_H200 = {"reference": 187.0, "ours": 600.0}

StepFn = Callable[[Tensor, Tensor], object]


# ---------------------------------------------------------------------------------------------------
# The reference step (the authors' Lightning module, lib/models/pix2pix.py, in plain PyTorch)
# ---------------------------------------------------------------------------------------------------


def reference_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    landmarks: Tensor,
    real: Tensor,
    lambda_pixel: float = LAMBDA_PIXEL,
) -> list[float]:
    """One step as the authors' ``Pix2Pix.training_step`` (manual optimisation) computes it, in float32."""
    generator.train()
    discriminator.train()
    # Generator update; the discriminator's parameters are frozen.
    with frozen_parameters(discriminator):  # Lightning's toggle_optimizer for the generator step
        fake = generator(landmarks)
        pred_fake = discriminator(fake, landmarks)
        valid = torch.ones_like(pred_fake)
        loss_gan = F.mse_loss(pred_fake, valid)
        loss_pixel = F.l1_loss(fake, real)
        loss_g = loss_gan + lambda_pixel * loss_pixel
        loss_g.backward()
        opt_g.step()
        opt_g.zero_grad()
    # Discriminator update with a second generator pass; real and fake pairs in separate calls.
    with frozen_parameters(generator):  # and for the discriminator step
        pred_real = discriminator(real, landmarks)
        loss_real = F.mse_loss(pred_real, valid)
        fake = generator(landmarks)
        pred_fake = discriminator(fake.detach(), landmarks)
        loss_fake = F.mse_loss(pred_fake, torch.zeros_like(pred_fake))
        loss_d = 0.5 * (loss_real + loss_fake)
        loss_d.backward()
        opt_d.step()
        opt_d.zero_grad()
    # Lightning's self.log(...) with log_every_n_steps=1: every logged value reaches the host each step.
    return [loss.item() for loss in (loss_g, loss_pixel, loss_gan, loss_d)]


@contextlib.contextmanager
def backend_settings(*, benchmark: bool, deterministic: bool = False, detect_anomaly: bool = False) -> Iterator[None]:
    """cuDNN autotuning, deterministic algorithms and anomaly detection for one recipe, restored on exit.

    The reference runs with PyTorch's defaults (no cuDNN autotuning); the authors' own runs added
    ``deterministic=True`` and ``detect_anomaly=True`` (their Trainer) and cuDNN deterministic mode.
    Ours turns cuDNN autotuning on (fixed input sizes), as ``ganon_utils.pix2pix.training`` does.
    """
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.is_anomaly_enabled(),
    )
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, benchmark and not deterministic
    torch.autograd.set_detect_anomaly(detect_anomaly)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1], saved[2]
        torch.autograd.set_detect_anomaly(saved[3])


# ---------------------------------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------------------------------


@dataclass
class Recipe:
    """A named way to run one training step on (landmark coordinates, faces)."""

    name: str
    step: StepFn
    context: Callable[[], contextlib.AbstractContextManager]
    counts_flops: bool = True


def paper_networks(device: torch.device, channels_last: bool) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    generator, discriminator = GeneratorUNet(), Discriminator()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return generator.to(device, memory_format=memory_format), discriminator.to(device, memory_format=memory_format)


def reference_recipe(device: torch.device, image_size: int, name: str, published: bool) -> Recipe:
    generator, discriminator = paper_networks(device, channels_last=False)
    opt_g = torch.optim.Adam(generator.parameters(), lr=LEARNING_RATE, betas=BETAS)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=LEARNING_RATE, betas=BETAS)

    def step(coords: Tensor, real: Tensor) -> object:
        landmarks = render_landmarks_torch(coords, image_size)
        return reference_step(generator, discriminator, opt_g, opt_d, landmarks, real)

    return Recipe(name, step, lambda: backend_settings(benchmark=False, deterministic=published, detect_anomaly=published))


def ours_recipe(device: torch.device, image_size: int, name: str, compiled: bool) -> Recipe:
    on_cuda = device.type == "cuda"
    generator, discriminator = paper_networks(device, channels_last=on_cuda)
    optimizers = Pix2PixOptimizers.create(generator, discriminator)
    if compiled:
        generator = torch.compile(generator, dynamic=False)
        discriminator = torch.compile(discriminator, dynamic=False)

    def step(coords: Tensor, real: Tensor) -> object:
        landmarks = render_landmarks_torch(coords, image_size)
        return train_step(
            generator,
            discriminator,
            optimizers.generator,
            optimizers.discriminator,
            landmarks,
            real,
            autocast_dtype=torch.bfloat16 if on_cuda else None,
            channels_last=on_cuda,
        )

    return Recipe(name, step, lambda: backend_settings(benchmark=True), counts_flops=not compiled)


# ---------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    name: str
    images_per_s: float
    ms_per_step: float
    warmup_s: float
    flops_per_step: float | None
    peak_gib: float | None


def synthetic_batches(count: int, batch: int, size: int, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    """Random landmark coordinates in the central part of the face and random faces in [-1, 1]."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    batches = []
    for _ in range(count):
        coords = torch.rand(batch, NUM_LANDMARKS, 2, generator=generator) * 0.6 + 0.2
        faces = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
        batches.append((coords.to(device), faces.to(device)))
    return batches


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(recipe: Recipe, batch: tuple[Tensor, Tensor]) -> float:
    """FLOPs of one step (forward + backward of every convolution and matrix product)."""
    counter = FlopCounterMode(display=False)
    with recipe.context(), counter:
        recipe.step(*batch)
    return float(counter.get_total_flops())


def measure(recipe: Recipe, batches: list[tuple[Tensor, Tensor]], steps: int, warmup: int, device: torch.device) -> Measurement:
    """Warm up (cuDNN autotuning, compilation), then time ``steps`` steps; count FLOPs on one more step."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with recipe.context():
        began = time.perf_counter()
        for index in range(warmup):
            recipe.step(*batches[index % len(batches)])
        synchronize(device)
        warmup_s = time.perf_counter() - began
        began = time.perf_counter()
        for index in range(steps):
            recipe.step(*batches[index % len(batches)])
        synchronize(device)
        seconds = time.perf_counter() - began
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    flops = count_flops(recipe, batches[0]) if recipe.counts_flops else None
    batch_size = batches[0][1].shape[0]
    return Measurement(recipe.name, steps * batch_size / seconds, 1000 * seconds / steps, warmup_s, flops, peak)


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def format_table(results: list[Measurement], reference: Measurement) -> str:
    """One row per recipe; ratios are images per second relative to the reference (a)."""
    header = (
        f"{'recipe':<52} {'img/s':>8} {'ms/step':>9} {'warm-up s':>9} {'GFLOP/step':>10} "
        f"{'TFLOP/s':>8} {'peak GiB':>8} {'vs (a)':>7}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        flops = result.flops_per_step
        gflop = f"{flops / 1e9:10.1f}" if flops is not None else f"{'-':>10}"
        tflops = f"{flops / (result.ms_per_step / 1000) / 1e12:8.2f}" if flops is not None else f"{'-':>8}"
        peak = f"{result.peak_gib:8.1f}" if result.peak_gib is not None else f"{'-':>8}"
        ratio = result.images_per_s / reference.images_per_s
        lines.append(
            f"{result.name:<52} {result.images_per_s:8.1f} {result.ms_per_step:9.1f} {result.warmup_s:9.1f} "
            f"{gflop} {tflops} {peak} {ratio:6.2f}x"
        )
    return "\n".join(lines)


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU ({torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per recipe")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN autotuning, compilation)")
    parser.add_argument(
        "--published-settings", action="store_true", help="add the reference under deterministic + anomaly detection"
    )
    parser.add_argument("--no-compile", action="store_true", help="skip recipe (c)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    batches = synthetic_batches(4, args.batch_size, args.image_size, device)
    print(
        f"pix2pix training step, paper networks, {args.image_size} px, batch {args.batch_size}, on {device_description(device)}, "
        f"torch {torch.__version__}; {args.steps} timed steps after {args.warmup} warm-up steps per recipe"
    )

    builders: list[Callable[[], Recipe]] = [
        lambda: reference_recipe(device, args.image_size, "(a) reference: fp32, G twice, D twice, foreach Adam", False),
    ]
    if args.published_settings:
        builders.append(
            lambda: reference_recipe(device, args.image_size, "(a') reference + deterministic + detect_anomaly", True)
        )
    builders.append(lambda: ours_recipe(device, args.image_size, "(b) ours: bf16, channels_last, G once, fused Adam", False))
    if not args.no_compile:
        builders.append(lambda: ours_recipe(device, args.image_size, "(c) ours + torch.compile", True))
    if device.type != "cuda":
        print("note: on the CPU bf16 autocast, channels_last and fused Adam are off; (b) differs from (a) only in the step")

    results = []
    for build in builders:
        recipe = build()
        results.append(measure(recipe, batches, args.steps, args.warmup, device))
        print(f"  measured {recipe.name}", flush=True)
        del recipe
        release(device)
    reference = results[0]
    ours = next(r for r in results if r.name.startswith("(b)"))
    if len(results) > 2 and results[-1].name.startswith("(c)") and results[-1].flops_per_step is None:
        results[-1].flops_per_step = ours.flops_per_step
    print(format_table(results, reference))
    best = max((r for r in results if r.name.startswith(("(b)", "(c)"))), key=lambda r: r.images_per_s)
    print(
        f"targets on one H200 at 512 px, batch 32: reference {TARGETS_H200['reference']:.0f} img/s, "
        f"ours >= {TARGETS_H200['ours']:.0f} img/s; best here: {best.name.split(':')[0]} {best.images_per_s:.1f} img/s "
        f"({best.images_per_s / reference.images_per_s:.2f}x the reference)"
    )


if __name__ == "__main__":
    main()
