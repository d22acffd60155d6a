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
