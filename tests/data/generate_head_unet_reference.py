"""Regenerate head_unet_smp_keys.json and head_unet_smp_logits.npy with segmentation_models_pytorch.

Run once, in a throwaway environment that has torch, torchvision, pytest and segmentation_models_pytorch
(not a dependency of this project), from the repository root:

    python tests/data/generate_head_unet_reference.py

The head-segmentation project builds its network as in ``head_segmentation/model.py``:
``smp.Unet(encoder_name, encoder_depth, encoder_weights, decoder_use_batchnorm=True,
decoder_channels=tuple(input_size // 2**i for i in range(encoder_depth)), decoder_attention_type=None,
in_channels=3, classes=2)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.test_head_unet import deterministic_input, deterministic_state_dict  # noqa: E402

SMP_ARGUMENTS = {
    "head_segmentation_512": {"encoder_depth": 5, "decoder_channels": (512, 256, 128, 64, 32)},
    "smp_default": {"encoder_depth": 5, "decoder_channels": (256, 128, 64, 32, 16)},
    "depth3_512": {"encoder_depth": 3, "decoder_channels": (512, 256, 128)},
}


def smp_unet(encoder_depth: int, decoder_channels: tuple[int, ...]) -> torch.nn.Module:
    return smp.Unet(
        encoder_name="resnet34",
        encoder_depth=encoder_depth,
        encoder_weights=None,
        decoder_use_batchnorm=True,
        decoder_channels=decoder_channels,
        decoder_attention_type=None,
        in_channels=3,
        classes=2,
    )


def main() -> None:
    keys = {name: [[k, list(v.shape)] for k, v in smp_unet(**args).state_dict().items()] for name, args in SMP_ARGUMENTS.items()}
    (HERE / "head_unet_smp_keys.json").write_text(json.dumps(keys, indent=0) + "\n")

    model = smp_unet(**SMP_ARGUMENTS["head_segmentation_512"])
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(deterministic_state_dict(shapes))
    with torch.inference_mode():
        logits = model.eval()(deterministic_input())
    np.save(HERE / "head_unet_smp_logits.npy", logits.numpy().astype(np.float32))
    print(f"smp {smp.__version__}: logits {tuple(logits.shape)}, max |logit| {logits.abs().max().item():.3f}")


if __name__ == "__main__":
    main()
