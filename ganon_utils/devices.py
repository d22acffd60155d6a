"""The one place where a device name ("auto", "cpu", "cuda", "cuda:1", ...) becomes a torch.device."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"`` -> a CUDA device when one is available, else the CPU; other names as given.

    ``"auto"`` and ``"cuda"`` mean CUDA device ``local_rank`` (one GPU per process under torchrun). A CUDA
    device asked for on a machine without one is an error, not a silent fall-back to the CPU.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but torch sees no CUDA device; use device='cpu' or 'auto'")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
"""Names of the numeric precisions a stage can run its network in; None means plain float32."""


def precision_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of ``precision`` (``"fp32"``: None, no autocast); ValueError for an unknown name."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


def configure_cuda() -> None:
    """Fixed input sizes: let cuDNN pick the fastest kernels; TF32 for whatever stays in float32."""
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")
