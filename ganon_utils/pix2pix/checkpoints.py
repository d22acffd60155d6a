"""pix2pix checkpoints: the authors' Lightning files, our own training checkpoints, bare state dicts.

Everything is read with ``torch.load(weights_only=True)``: a checkpoint is data (tensors, numbers,
strings, lists, dicts), never code. The authors' published PyTorch Lightning ``.ckpt`` files qualify:
Lightning stores ``state_dict`` (keys ``generator.*`` and ``discriminator.*``), ``epoch``,
``global_step``, ``pytorch-lightning_version``, ``hyper_parameters`` (a plain dict), ``loops``,
``callbacks``, ``optimizer_states`` and ``lr_schedulers``, all plain containers.

Our own format (:data:`CHECKPOINT_FORMAT`) is a dict::

    {"format": CHECKPOINT_FORMAT,
     "generator": state_dict, "discriminator": state_dict,
     "optimizer_generator": Adam state_dict, "optimizer_discriminator": Adam state_dict,
     "epoch": int, "step": int,
     "config": plain dict (str/int/float/bool/None, lists, tuples, nested dicts),
     "rng_state": {"torch": ByteTensor, "cuda": [ByteTensor, ...]}}

The RNG state makes resuming bit-identical on CPU: dropout draws from the global torch generator.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganon_utils.atomic_files import atomic_path
from ganon_utils.pix2pix.networks import GeneratorUNet
from ganon_utils.stages import PathLike

CHECKPOINT_FORMAT = "ganon_utils.pix2pix/1"
"""Value of the ``format`` key that marks our own training checkpoints."""
LIGHTNING_GENERATOR_PREFIX = "generator."
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")  # torch.compile and DistributedDataParallel wrappers
_GENERATOR_PROBE_KEY = "down1.model.0.weight"
AUTHORS_WEIGHTS_SOURCE = (
    "the GANonymization authors' trained generator, linked from the README of "
    "https://github.com/hcmlab/GANonymization (25 epochs, publication version: "
    "https://mediastore.rz.uni-augsburg.de/get/NsLjQYey65/ ; 50 epochs, demo version: "
    "https://mediastore.rz.uni-augsburg.de/get/Sfle_etB1D/)"
)
"""Where the authors' Lightning checkpoints are published (verified in their README)."""


@dataclass
class TrainingState:
    """Everything needed to resume training, as read from one of our checkpoints."""

    generator: dict[str, Tensor]
    discriminator: dict[str, Tensor]
    optimizer_generator: dict[str, Any]
    optimizer_discriminator: dict[str, Any]
    epoch: int
    step: int
    config: dict[str, Any] = field(default_factory=dict)
    rng_state: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


def read_checkpoint(path: PathLike, *, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file and say what to do.

    Raises:
        FileNotFoundError: the file does not exist (the message says where the authors' weights are).
        ValueError: the file holds pickled Python objects (weights-only loading refuses them) or is
            not a readable PyTorch file (e.g. a truncated download).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"pix2pix checkpoint not found: {path}. Train one with this package, or download "
            f"{AUTHORS_WEIGHTS_SOURCE}, and pass the path of the downloaded .ckpt file."
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} contains pickled Python objects, which could run code when loaded, so it is not loaded "
            f"({str(error).splitlines()[0]}). Only if you know where the file comes from and trust it, convert it "
            f"once to plain tensors: python -m ganon_utils convert-checkpoint {path} converted.ckpt --trust-source "
            "(then use converted.ckpt). Otherwise get the published file again (python -m ganon_utils fetch-weights)."
        ) from error
    except (RuntimeError, EOFError) as error:
        raise ValueError(
            f"could not read {path} as a PyTorch checkpoint (truncated download or another file type?): {error}"
        ) from error


def strip_prefix(state_dict: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries whose key starts with ``prefix``, with the prefix removed."""
    return {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}


def unwrap_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove torch.compile (``_orig_mod.``) and DDP (``module.``) key prefixes when every key has them."""
    result = dict(state_dict)
    while result:
        prefix = next((p for p in _WRAPPER_PREFIXES if all(key.startswith(p) for key in result)), None)
        if prefix is None:
            break
        result = strip_prefix(result, prefix)
    return result


def extract_generator_state_dict(checkpoint: Any) -> dict[str, Tensor]:
    """The generator's state dict from any supported checkpoint object.

    Accepts our own format, a Lightning checkpoint (``state_dict`` with ``generator.*`` keys; the
    discriminator and every other entry are ignored) and a bare generator state dict.
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"expected a checkpoint dict, got {type(checkpoint).__name__}")
    if checkpoint.get("format") == CHECKPOINT_FORMAT:
        return unwrap_state_dict(checkpoint["generator"])
    if "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], Mapping):
        lightning_state = unwrap_state_dict(checkpoint["state_dict"])
        generator = unwrap_state_dict(strip_prefix(lightning_state, LIGHTNING_GENERATOR_PREFIX))
        if not generator:
            raise ValueError(
                "Lightning checkpoint has no 'generator.*' entries in its state_dict; "
                f"first keys: {list(checkpoint['state_dict'])[:5]}"
            )
        return generator
    bare = unwrap_state_dict(checkpoint)
    if _GENERATOR_PROBE_KEY in bare and all(isinstance(v, Tensor) for v in bare.values()):
        return bare
    raise ValueError(
        "unrecognised checkpoint: expected our training checkpoint, a Lightning checkpoint or a bare "
        f"generator state dict; top-level keys: {list(checkpoint)[:10]}"
    )


def infer_generator_config(state_dict: Mapping[str, Tensor]) -> dict[str, int]:
    """``in_channels``, ``out_channels``, ``num_downs``, ``base_channels`` of the generator behind ``state_dict``."""
    try:
        in_channels = state_dict["down1.model.0.weight"].shape[1]
        out_channels = state_dict["final.2.weight"].shape[0]
    except KeyError as error:
        raise ValueError(f"not a GeneratorUNet state dict: missing {error}") from error
    base_channels = state_dict["down1.model.0.weight"].shape[0]
    num_downs = 0
    while f"down{num_downs + 1}.model.0.weight" in state_dict:
        num_downs += 1
    return {
        "in_channels": int(in_channels),
        "out_channels": int(out_channels),
        "num_downs": num_downs,
        "base_channels": int(base_channels),
    }


def non_finite_tensors(state_dict: Mapping[str, Tensor]) -> list[str]:
    """Keys of the floating-point tensors in ``state_dict`` that hold NaN or infinite values."""
    return [key for key, value in state_dict.items()
            if isinstance(value, Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())]  # fmt: skip


def require_finite(state_dict: Mapping[str, Tensor]) -> None:
    """ValueError when a weight is NaN or infinite: such a generator draws black or garbage faces."""
    bad = non_finite_tensors(state_dict)
    if bad:
        raise ValueError(
            f"{len(bad)} weight tensor(s) hold NaN or infinite values (first: {', '.join(bad[:3])}): the file is "
            "corrupt or comes from a diverged training run; use another checkpoint"
        )


def generator_from_state_dict(state_dict: Mapping[str, Tensor]) -> GeneratorUNet:
    """A GeneratorUNet holding exactly ``state_dict`` (strict key match), in eval mode.

    The network is built on the meta device and takes over the given tensors (no random init, no
    copy), so it lives on the device and in the dtype the tensors were loaded to. Eval mode disables
    dropout, as in the authors' inference code. Non-finite weights are refused (:func:`require_finite`).
    """
    config = infer_generator_config(state_dict)
    require_finite(state_dict)
    with torch.device("meta"):
        generator = GeneratorUNet(
            config["in_channels"],
            config["out_channels"],
            num_downs=config["num_downs"],
            base_channels=config["base_channels"],
            init_std=None,
        )
    generator.load_state_dict(state_dict, strict=True, assign=True)
    return generator.eval()


def load_generator(path: PathLike, *, map_location: str | torch.device = "cpu") -> GeneratorUNet:
    """Load a trained generator from the authors' Lightning .ckpt, our checkpoint or a bare state dict."""
    checkpoint = read_checkpoint(path, map_location=map_location)
    try:
        state_dict = extract_generator_state_dict(checkpoint)
        return generator_from_state_dict(state_dict)
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: {error}") from error


def load_training_state(path: PathLike, *, map_location: str | torch.device = "cpu") -> TrainingState:
    """Read one of our training checkpoints (written by :func:`save_checkpoint`) for resuming."""
    checkpoint = read_checkpoint(path, map_location=map_location)
    if not isinstance(checkpoint, Mapping) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a {CHECKPOINT_FORMAT!r} training checkpoint (a Lightning or bare generator file "
            "can be used for inference with load_generator, not to resume training)"
        )
    return TrainingState(
        generator=checkpoint["generator"],
        discriminator=checkpoint["discriminator"],
        optimizer_generator=checkpoint["optimizer_generator"],
        optimizer_discriminator=checkpoint["optimizer_discriminator"],
        epoch=int(checkpoint["epoch"]),
        step=int(checkpoint["step"]),
        config=dict(checkpoint.get("config") or {}),
        rng_state=dict(checkpoint.get("rng_state") or {}),
    )


# ---------------------------------------------------------------------------------------------------
# RNG state
# ---------------------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU, and every CUDA device once CUDA is initialised)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Set the global torch RNG states captured by :func:`capture_rng_state`."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda")
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


# ---------------------------------------------------------------------------------------------------
# Writing and resuming
# ---------------------------------------------------------------------------------------------------


def unwrap_module(module: nn.Module) -> nn.Module:
    """The network inside torch.compile (``_orig_mod``) and DistributedDataParallel (``module``) wrappers."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        elif isinstance(inner := getattr(module, "_orig_mod", None), nn.Module):
            module = inner
        else:
            return module


def module_state_dict(module: nn.Module) -> dict[str, Tensor]:
    """The state dict of ``module`` without wrapper key prefixes (see :func:`unwrap_module`)."""
    return unwrap_module(module).state_dict()


def check_plain_data(value: Any, where: str = "config") -> None:
    """Raise TypeError unless ``value`` is built only from str/int/float/bool/None, lists, tuples, dicts."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain_data(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where} has a key of type {type(key).__name__}; use str or int keys")
            check_plain_data(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}; checkpoints hold only plain data "
        "(str, int, float, bool, None, lists, tuples, dicts) so that they load with weights_only=True"
    )


def atomic_torch_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` through :func:`ganon_utils.atomic_files.atomic_path` (temp sibling, fsync, replace)."""
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(obj, temporary)
    return path


def save_checkpoint(
    path: PathLike,
    *,
    generator: nn.Module,
    discriminator: nn.Module,
    optimizer_generator: torch.optim.Optimizer,
    optimizer_discriminator: torch.optim.Optimizer,
    epoch: int,
    step: int,
    config: Mapping[str, Any] | None = None,
    rng_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write a training checkpoint atomically; it loads with ``torch.load(weights_only=True)``.

    Args:
        path: destination file (its folder is created).
        generator, discriminator: the networks (torch.compile / DDP wrappers are unwrapped).
        optimizer_generator, optimizer_discriminator: their optimisers.
        epoch: completed epochs; step: completed optimisation steps.
        config: plain-data training configuration (checked; TypeError otherwise).
        rng_state: RNG states to store; by default the current global torch states.
    """
    config_dict = dict(config or {})
    check_plain_data(config_dict)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "generator": module_state_dict(generator),
        "discriminator": module_state_dict(discriminator),
        "optimizer_generator": optimizer_generator.state_dict(),
        "optimizer_discriminator": optimizer_discriminator.state_dict(),
        "epoch": int(epoch),
        "step": int(step),
        "config": config_dict,
        "rng_state": dict(rng_state) if rng_state is not None else capture_rng_state(),
    }
    return atomic_torch_save(checkpoint, path)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
    """Load an optimiser state but keep this optimiser's kernel choice (fused / foreach).

    A checkpoint written on a GPU (fused Adam) can then resume on a CPU and vice versa.
    """
    kernel_flags = [{k: group.get(k) for k in ("fused", "foreach")} for group in optimizer.param_groups]
    optimizer.load_state_dict(dict(state))
    for group, flags in zip(optimizer.param_groups, kernel_flags):
        group.update(flags)


def restore_training_state(
    state: TrainingState,
    generator: nn.Module,
    discriminator: nn.Module,
    optimizer_generator: torch.optim.Optimizer,
    optimizer_discriminator: torch.optim.Optimizer,
    *,
    restore_rng: bool = True,
) -> None:
    """Load networks, optimisers and (by default) the global RNG states from ``state``, in place."""
    unwrap_module(generator).load_state_dict(state.generator)
    unwrap_module(discriminator).load_state_dict(state.discriminator)
    load_optimizer_state(optimizer_generator, state.optimizer_generator)
    load_optimizer_state(optimizer_discriminator, state.optimizer_discriminator)
    if restore_rng:
        restore_rng_state(state.rng_state)


# ---------------------------------------------------------------------------------------------------
# Converting a trusted file that holds pickled objects
# ---------------------------------------------------------------------------------------------------


def convert_trusted_checkpoint(source: PathLike, target: PathLike) -> Path:
    """Rewrite a TRUSTED checkpoint that holds pickled Python objects as plain tensors that load weights-only.

    This is the one place the package unpickles (``torch.load(weights_only=False)``), which can run code stored
    in the file: it is reached only through ``convert-checkpoint --trust-source``. The generator's weights are
    kept, in the Lightning layout (``state_dict`` with ``generator.*`` keys) that :func:`load_generator` reads;
    the written file is checked to load weights-only and to hold finite weights.
    """
    source, target = Path(source), Path(target)
    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    generator = extract_generator_state_dict(checkpoint)
    require_finite(generator)
    plain = {"state_dict": {LIGHTNING_GENERATOR_PREFIX + key: value.detach().clone() for key, value in generator.items()}}
    with atomic_path(target) as temporary:
        torch.save(plain, temporary)
    load_generator(target)  # what was written loads weights-only
    return target
