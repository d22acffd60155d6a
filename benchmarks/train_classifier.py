"""Expression/attribute classifier training throughput (notebooks 05 and 07): the authors' float32 step vs ours.

    python benchmarks/train_classifier.py                    # CUDA when present: ConvNeXt-base, 224 px, batch 32
    python benchmarks/train_classifier.py --device cpu --batch-size 8 --steps 3
    python benchmarks/train_classifier.py --architecture convnext_tiny --image-size 64 --batch-size 8   # the demo's

One training step = ImageNet transform with random flip, forward, class-weighted cross-entropy, backward,
AdamW, on random uint8 faces made on the host (as the DataLoader delivers them), so the figures measure
the step, not PNG decoding. Rows:

(a) reference: float32, contiguous layout, PyTorch's default backend settings (the authors' classifier).
(b) ours, fp32: ``ganon_utils.evaluation.classifier_training`` with ``precision="fp32"`` (on CUDA with
    cuDNN autotuning and TF32 matrix products, :func:`ganon_utils.devices.configure_cuda`).
(c) ours, bf16: ``precision="bf16"``, the default (bf16 autocast, channels-last; weights and AdamW in float32).

Prints images/s and the ratio to (a). Not a test: nothing asserts on timings. Needs only torch,
torchvision and the package.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganon_utils.devices import configure_cuda, resolve_device
from ganon_utils.evaluation.classifier_training import training_step
from ganon_utils.evaluation.classifiers import PAPER_ARCHITECTURE, PAPER_IMAGE_SIZE, classifier_transform, convnext_classifier

NUM_CLASSES = 8  # AffectNet's eight expressions


def make_step(
    architecture: str, image_size: int, device: torch.device, precision: str | None
) -> Callable[[Tensor, Tensor], None]:
    """A training step on (uint8 images, labels); ``precision`` None is the reference float32 step."""
    torch.manual_seed(0)
    model = convnext_classifier(NUM_CLASSES, architecture).to(device).train()
    if precision not in (None, "fp32"):
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-3)
    loss = nn.CrossEntropyLoss(weight=torch.ones(NUM_CLASSES, device=device))
    transform = classifier_transform(image_size, flip_p=0.5)

    def reference_step(images: Tensor, labels: Tensor) -> None:  # the authors' step: float32, contiguous
        batch_loss = loss(model(transform(images.to(device).float().div_(255.0))), labels.to(device))
        optimizer.zero_grad(set_to_none=True)
        batch_loss.backward()
        optimizer.step()

    def our_step(images: Tensor, labels: Tensor) -> None:  # the library's step, as train_classifier runs it
        training_step(model, optimizer, loss, images, labels, transform, device, precision)

    return reference_step if precision is None else our_step


def images_per_second(
    step: Callable[[Tensor, Tensor], None], images: Tensor, labels: Tensor, steps: int, warmup: int, device: torch.device
) -> float:
    """Steady-state training images per second of ``step`` after ``warmup`` untimed steps."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        step(images, labels)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step(images, labels)
    sync()
    return steps * len(images) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--architecture", default=PAPER_ARCHITECTURE)
    parser.add_argument("--image-size", type=int, default=PAPER_IMAGE_SIZE)
    parser.add_argument("--face-size", type=int, default=None, help="side of the stored faces (default 2 x image size)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 32 on CUDA (the paper's), 8 on the CPU")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 30 on CUDA, 3 on the CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 on CUDA, 1 on the CPU)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    batch = args.batch_size or (32 if on_gpu else 8)
    steps, warmup = args.steps or (30 if on_gpu else 3), args.warmup if args.warmup is not None else (5 if on_gpu else 1)
    side = args.face_size or 2 * args.image_size
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, side, side), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (batch,), generator=generator)
    name = torch.cuda.get_device_name(device) if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"{args.architecture}, {args.image_size} px (faces {side} px), batch {batch}, {steps} timed steps on {name}; torch {torch.__version__}"
    )
    rows = [
        ("reference: fp32, default settings (the authors')", None),
        ("ours, fp32", "fp32"),
        ("ours, bf16 + channels-last", "bf16"),
    ]
    baseline = None
    print(f"{'recipe':<50} {'img/s':>8} {'vs reference':>13}")
    for label, precision in rows:
        if precision is not None and on_gpu:
            configure_cuda()  # after the reference row: it changes global backend settings
        rate = images_per_second(
            make_step(args.architecture, args.image_size, device, precision), images, labels, steps, warmup, device
        )
        baseline = baseline or rate
        print(f"{label:<50} {rate:>8.1f} {rate / baseline:>12.2f}x", flush=True)
        if on_gpu:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
