"""The paper's head-segmentation model (section 3.2): a U-Net with a ResNet-34 encoder, 2 classes.

GANonymization removes the background with the pretrained model of the wiktorlazarski/head-segmentation
project. That project builds ``segmentation_models_pytorch.Unet(encoder_name="resnet34",
encoder_depth=5, decoder_use_batchnorm=True, decoder_attention_type=None, in_channels=3, classes=2)``
with decoder widths ``input_size // 2**i`` (512, 256, 128, 64, 32 for its 512-pixel model) and trains
it with PyTorch Lightning, so its checkpoint ``head_segmentation.ckpt`` is a Lightning checkpoint:
``hyper_parameters`` (``encoder_name``, ``encoder_depth``, ``nn_image_input_resolution``, ...) and a
``state_dict`` whose network keys carry the prefix ``neural_net.`` (plus the loss's
``criterion.weight``).

This module re-implements that network with torch/torchvision only. Its parameter names and shapes
are those of the segmentation_models_pytorch U-Net (``encoder.*`` is a torchvision ResNet-34 without
``fc``; ``decoder.blocks.N.conv{1,2}.{0,1}.*``; ``segmentation_head.0.*``), so the published
checkpoint loads strictly, with ``torch.load(weights_only=True)``.

Class 0 is background, class 1 is head (the project's ``LABEL2INDEX``).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from ganon_utils.stages import PathLike
from ganon_utils.weights import MissingWeightError, require_weight

HEAD_UNET_INPUT_SIZE = 512
"""The input resolution of the published model (``nn_image_input_resolution``)."""
HEAD_UNET_CLASSES = ("background", "head")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET34_CHANNELS = (3, 64, 64, 128, 256, 512)
"""Channels of the encoder's features: the input, then stages 1 to 5."""
CHECKPOINT_PREFIX = "neural_net."
"""Prefix of the network's keys in the project's Lightning checkpoint."""


def head_unet_decoder_channels(input_size: int = HEAD_UNET_INPUT_SIZE, depth: int = 5) -> tuple[int, ...]:
    """The head-segmentation project's decoder widths: ``input_size // 2**i`` for each of ``depth`` blocks."""
    return tuple(input_size // 2**i for i in range(depth))


class ResNet34Encoder(ResNet):
    """torchvision's ResNet-34 without its classifier, returning the features of the first ``depth`` stages.

    All four residual layers are kept whatever the depth, as segmentation_models_pytorch does, so the
    parameter names do not depend on the depth.
    """

    def __init__(self, depth: int = 5) -> None:
        if not 1 <= depth <= 5:
            raise ValueError(f"encoder depth must be in 1..5, got {depth}")
        super().__init__(BasicBlock, [3, 4, 6, 3])
        del self.fc
        del self.avgpool
        self.depth = depth

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features ``[x, stage1, ..., stage_depth]``; stage k has 1/2**k of the input's resolution."""
        stages: list[nn.Module] = [
            nn.Sequential(self.conv1, self.bn1, self.relu),
            nn.Sequential(self.maxpool, self.layer1),
            self.layer2,
            self.layer3,
            self.layer4,
        ]
        features = [x]
        for stage in stages[: self.depth]:
            x = stage(x)
            features.append(x)
        return features


class ConvBNReLU(nn.Sequential):
    """3x3 convolution without bias, batch norm, ReLU (keys ``0.weight`` and ``1.*``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class DecoderBlock(nn.Module):
    """Nearest-neighbour upsampling to the skip's size, concatenation with the skip, two ConvBNReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(in_channels + skip_channels, out_channels)
        self.conv2 = ConvBNReLU(out_channels, out_channels)

    def forward(self, x: torch.Tensor, size: Sequence[int], skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, size=tuple(size), mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    """One decoder block per encoder stage, from the deepest feature up to the input's resolution."""

    def __init__(self, encoder_channels: Sequence[int], decoder_channels: Sequence[int]) -> None:
        super().__init__()
        deep_to_shallow = list(encoder_channels[1:])[::-1]
        in_channels = [deep_to_shallow[0], *decoder_channels[:-1]]
        skip_channels = [*deep_to_shallow[1:], 0]
        self.blocks = nn.ModuleList(
            DecoderBlock(i, s, o) for i, s, o in zip(in_channels, skip_channels, decoder_channels, strict=True)
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        sizes = [f.shape[-2:] for f in features][::-1]  # deepest first, the input's size last
        skips = features[1:][::-1][1:]  # stage features below the deepest, deepest first
        x = features[-1]
        for i, block in enumerate(self.blocks):
            x = block(x, sizes[i + 1], skips[i] if i < len(skips) else None)
        return x


class HeadUNet(nn.Module):
    """U-Net, ResNet-34 encoder, batch-normed decoder without attention, 3x3 head: (N,3,H,W) -> (N,C,H,W) logits.

    The defaults are the published head-segmentation model (depth 5, decoder 512..32, 2 classes).
    H and W must be multiples of ``2**encoder_depth``.
    """

    def __init__(
        self,
        encoder_depth: int = 5,
        decoder_channels: Sequence[int] | None = None,
        num_classes: int = len(HEAD_UNET_CLASSES),
    ) -> None:
        super().__init__()
        if decoder_channels is None:
            decoder_channels = head_unet_decoder_channels(HEAD_UNET_INPUT_SIZE, encoder_depth)
        if len(decoder_channels) != encoder_depth:
            raise ValueError(f"{len(decoder_channels)} decoder channels given for encoder depth {encoder_depth}")
        self.encoder_depth = encoder_depth
        self.decoder_channels = tuple(decoder_channels)
        self.num_classes = num_classes
        self.encoder = ResNet34Encoder(encoder_depth)
        self.decoder = UNetDecoder(RESNET34_CHANNELS[: encoder_depth + 1], self.decoder_channels)
        self.segmentation_head = nn.Sequential(nn.Conv2d(self.decoder_channels[-1], num_classes, kernel_size=3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = 2**self.encoder_depth
        if x.ndim != 4 or x.shape[-2] % stride or x.shape[-1] % stride:
            raise ValueError(f"expected (N, 3, H, W) with H and W multiples of {stride}, got {tuple(x.shape)}")
        return self.segmentation_head(self.decoder(self.encoder(x)))


# --- checkpoints ---------------------------------------------------------------------------------


def read_head_unet_checkpoint(path: PathLike, map_location: str | torch.device = "cpu") -> Mapping[str, Any]:
    """Load a checkpoint file with ``torch.load(weights_only=True)``: a Lightning checkpoint or a state_dict."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        # a download that fetched an HTML page, a truncated file, or one holding arbitrary pickled objects
        raise ValueError(f"{path} is not a checkpoint that torch.load(weights_only=True) can read: {err}") from err
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dictionary")
    return checkpoint


def head_unet_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The network's state_dict: ``neural_net.*`` keys of a Lightning checkpoint (prefix removed), or a bare one.

    Keys of the Lightning module outside the network (the loss's ``criterion.weight``) are dropped.
    """
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise ValueError("the checkpoint's 'state_dict' is not a mapping")
    if any(key.startswith(CHECKPOINT_PREFIX) for key in state):
        state = {k[len(CHECKPOINT_PREFIX) :]: v for k, v in state.items() if k.startswith(CHECKPOINT_PREFIX)}
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(state) or not tensors:
        raise ValueError("the checkpoint's state_dict must map names to tensors")
    return tensors


def head_unet_architecture(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """``HeadUNet`` arguments (encoder depth, decoder widths, classes) read from a state_dict's shapes."""
    widths: list[int] = []
    while (key := f"decoder.blocks.{len(widths)}.conv2.0.weight") in state_dict:
        widths.append(int(state_dict[key].shape[0]))
    head = state_dict.get("segmentation_head.0.weight")
    if not 1 <= len(widths) <= 5 or head is None:
        raise ValueError("not a U-Net state_dict: decoder.blocks.N.conv2.0.weight or segmentation_head.0.weight missing")
    return {"encoder_depth": len(widths), "decoder_channels": tuple(widths), "num_classes": int(head.shape[0])}


def checkpoint_input_size(checkpoint: Mapping[str, Any]) -> int:
    """The network's input resolution: ``hyper_parameters.nn_image_input_resolution``, else 512."""
    hparams = checkpoint.get("hyper_parameters") or {}
    return int(hparams.get("nn_image_input_resolution", HEAD_UNET_INPUT_SIZE))


def head_unet_from_checkpoint(checkpoint: Mapping[str, Any]) -> HeadUNet:
    """Build a ``HeadUNet`` shaped like the checkpoint's network, load its weights strictly, set eval mode."""
    hparams = checkpoint.get("hyper_parameters") or {}
    encoder_name = hparams.get("encoder_name", "resnet34")
    if encoder_name != "resnet34":
        raise ValueError(f"the checkpoint's encoder is {encoder_name!r}; only 'resnet34' (the paper's model) is built here")
    state_dict = head_unet_state_dict(checkpoint)
    model = HeadUNet(**head_unet_architecture(state_dict))
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        raise ValueError(f"the checkpoint does not match a ResNet-34 U-Net: {err}") from err
    return model.eval()


def load_head_unet(path: PathLike, map_location: str | torch.device = "cpu") -> HeadUNet:
    """Load the head-segmentation U-Net from ``path`` (Lightning checkpoint or bare state_dict), in eval mode."""
    try:
        return head_unet_from_checkpoint(read_head_unet_checkpoint(path, map_location))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


# --- pre- and post-processing --------------------------------------------------------------------


def preprocess_rgb(rgb: np.ndarray, input_size: int = HEAD_UNET_INPUT_SIZE) -> torch.Tensor:
    """(H,W,3) uint8 RGB -> (1,3,S,S) float32, as the project's pipeline does it.

    ``ToTensor`` (scale to [0, 1]), ``Resize((S, S))`` on the tensor (bilinear, no antialiasing, as
    torchvision < 0.17 did for tensors, which trained and ran the model), ImageNet ``Normalize``.
    Faces reach this step already 512x512 in the paper's pipeline, where the resize is the identity.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).to(torch.float32).div(255)
    x = F.interpolate(x[None], size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x.sub(mean).div(std)


def head_mask_from_logits(logits: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(1,C,h,w) or (C,h,w) logits -> (height, width) bool head mask: argmax == 1, nearest-neighbour resize.

    Ties go to background (argmax returns the first maximum). The resize is OpenCV's INTER_NEAREST,
    as in the project's pipeline.
    """
    if logits.ndim == 4:
        if logits.shape[0] != 1:
            raise ValueError(f"expected one image's logits, got a batch of {logits.shape[0]}")
        logits = logits[0]
    labels = logits.argmax(dim=0).to(torch.uint8).cpu().numpy()
    labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    return labels == HEAD_UNET_CLASSES.index("head")


class HeadUNetSegmenter:
    """The head-segmentation model, loaded once, in eval mode: ``(H,W,3) uint8 RGB -> (H,W) bool`` head mask.

    ``weight_path`` defaults to ``weights.weight_path("head_segmentation")``; a missing file raises
    :class:`~ganon_utils.weights.MissingWeightError` before anything is loaded.

    Note: GANonymization read images with ``cv2.imread`` and passed them on unchanged, so the paper's
    masks were computed from BGR-ordered pixels; the segmentation backend ``head_unet_bgr`` does the same.
    """

    def __init__(self, weight_path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        if weight_path is None:
            path = require_weight("head_segmentation")
        else:
            path = Path(weight_path)
            if not path.is_file():
                raise MissingWeightError(f"Missing weight file for the head-segmentation U-Net: {path} does not exist.")
        self.weight_path = path
        self.device = torch.device(device)
        checkpoint = read_head_unet_checkpoint(path)
        self.input_size = checkpoint_input_size(checkpoint)
        try:
            self.model = head_unet_from_checkpoint(checkpoint).to(self.device)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
        if self.model.num_classes != len(HEAD_UNET_CLASSES):
            raise ValueError(f"{path}: {self.model.num_classes} output classes, expected background and head")

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        x = preprocess_rgb(rgb, self.input_size).to(self.device)
        return head_mask_from_logits(self.model(x), rgb.shape[0], rgb.shape[1])
