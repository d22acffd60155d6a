"""The pix2pix networks used by GANonymization: a U-Net generator and a PatchGAN discriminator.

The layer layout follows Erik Linder-Noren's PyTorch-GAN pix2pix (``implementations/pix2pix/models.py``),
which the authors built upon (paper section 3.4) and copied into ``lib/models/pix2pix.py`` of their
repository. Attribute names (``down1`` .. ``down8``, ``up1`` .. ``up7``, ``final``, a Sequential
``model`` inside every block, ``Discriminator.model``) are the same, so the state dict of the authors'
published Lightning checkpoints (keys ``generator.down1.model.0.weight`` ...) loads directly.

Generator (default ``num_downs=8``):

- ``down1`` .. ``down8``: Conv2d 4x4 stride 2 (no bias) -> InstanceNorm2d (not on ``down1`` nor on the
  innermost ``down8``) -> LeakyReLU(0.2) -> Dropout(0.5) on the 512-channel blocks ``down4`` .. ``down8``.
- ``up1`` .. ``up7``: ConvTranspose2d 4x4 stride 2 (no bias) -> InstanceNorm2d -> ReLU -> Dropout(0.5)
  on ``up1`` .. ``up4``; the output is concatenated with the mirrored encoder feature map.
- ``final``: Upsample(x2) -> ZeroPad2d((1, 0, 1, 0)) -> Conv2d(128, out, 4, padding=1) -> Tanh.

Discriminator: Conv 4x4 stride 2 blocks with 64, 128, 256, 512 channels (instance norm on all but the
first, LeakyReLU 0.2) -> ZeroPad2d((1, 0, 1, 0)) -> Conv2d(512, 1, 4, padding=1, no bias), applied to
the channel concatenation of (image, condition); one score per 16x16 patch.

InstanceNorm2d is used with PyTorch's defaults (no affine parameters, no running statistics), so
normalisation layers hold no state-dict entries and the network behaves identically in train and
eval mode except for dropout.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

DEFAULT_NUM_DOWNS = 8
"""Down-sampling blocks of the paper's generator (8 down, 7 up)."""
BASE_CHANNELS = 64
"""Channels of the first encoder block; doubled per block up to ``MAX_WIDTH_FACTOR`` times this (512)."""
MAX_WIDTH_FACTOR = 8
DROPOUT = 0.5
"""Dropout probability of the 512-channel (inner) blocks."""
LEAKY_SLOPE = 0.2
INIT_STD = 0.02
"""Standard deviation of the N(0, std) initialisation of all convolution weights (reference init)."""
DISCRIMINATOR_WIDTH_FACTORS = (1, 2, 4, 8)
"""Discriminator block widths in units of ``base_channels``: 64, 128, 256, 512 by default."""
DISCRIMINATOR_STRIDE = 2 ** len(DISCRIMINATOR_WIDTH_FACTORS)
"""Down-sampling factor of the discriminator: one score per 16x16 input patch."""
_MIN_NUM_DOWNS = 5  # the innermost block must be a full-width (512-channel) block, as in the reference


def generator_min_size(num_downs: int = DEFAULT_NUM_DOWNS) -> int:
    """Smallest input side the generator accepts: ``2 ** num_downs`` (256 px for the paper's model).

    Each down block halves the side, so ``num_downs`` halvings must end at >= 1 pixel; the sides must be
    multiples of this number so that every decoder output matches its skip connection. Smaller inputs
    cannot work: a 128 px input reaches 1x1 at ``down7``, whose instance norm needs more than one
    spatial element, and ``down8`` would produce a 0x0 map.
    """
    return 2**num_downs


def encoder_channels(num_downs: int = DEFAULT_NUM_DOWNS, base_channels: int = BASE_CHANNELS) -> tuple[int, ...]:
    """Output channels of ``down1`` .. ``down{num_downs}``: 64, 128, 256, then 512 for the rest (default)."""
    return tuple(base_channels * min(2**i, MAX_WIDTH_FACTOR) for i in range(num_downs))


def init_weights_normal_(module: nn.Module, std: float = INIT_STD) -> nn.Module:
    """Initialise every (transposed) convolution weight with N(0, std), in place; biases keep defaults.

    This is the reference's ``weights_init_normal`` for networks without batch norm.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
    return module


class UNetDown(nn.Module):
    """Encoder block: Conv 4x4 stride 2 -> [InstanceNorm] -> LeakyReLU(0.2) -> [Dropout]. Halves H and W."""

    def __init__(self, in_channels: int, out_channels: int, *, normalize: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)]
        if normalize:
            layers.append(nn.InstanceNorm2d(out_channels))
        layers.append(nn.LeakyReLU(LEAKY_SLOPE))
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class UNetUp(nn.Module):
    """Decoder block: ConvTranspose 4x4 stride 2 -> InstanceNorm -> ReLU -> [Dropout], then concat skip."""

    def __init__(self, in_channels: int, out_channels: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
            nn.InstanceNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return torch.cat((self.model(x), skip), dim=1)


class GeneratorUNet(nn.Module):
    """pix2pix U-Net generator: landmark image in [-1, 1] -> face image in [-1, 1] (tanh).

    Args:
        in_channels: channels of the condition image (3: the rendered landmark image).
        out_channels: channels of the generated image.
        num_downs: encoder blocks; 8 is the paper's model and the only value whose state-dict layout
            matches the authors' checkpoints. Smaller values (>= 5) build the same pattern with
            fewer 512-channel blocks, for inputs down to ``2 ** num_downs`` px (e.g. fast tests).
        base_channels: width of ``down1`` (64 in the paper); blocks double it up to 8x. Smaller values
            give the same architecture with fewer parameters (fast tests).
        dropout: probability of the dropout in the full-width (512-channel) blocks (0.5 in the paper).
        init_std: N(0, init_std) initialisation of convolution weights; ``None`` keeps PyTorch's.

    Input sides must be multiples of ``generator_min_size(num_downs)`` (256 by default).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        *,
        num_downs: int = DEFAULT_NUM_DOWNS,
        base_channels: int = BASE_CHANNELS,
        dropout: float = DROPOUT,
        init_std: float | None = INIT_STD,
    ) -> None:
        super().__init__()
        if num_downs < _MIN_NUM_DOWNS:
            raise ValueError(f"num_downs must be >= {_MIN_NUM_DOWNS}, got {num_downs}")
        self.num_downs = num_downs
        widths = encoder_channels(num_downs, base_channels)
        full_width = base_channels * MAX_WIDTH_FACTOR
        previous = in_channels
        for index, width in enumerate(widths, start=1):
            first_or_innermost = index in (1, num_downs)
            down = UNetDown(
                previous,
                width,
                normalize=not first_or_innermost,
                dropout=dropout if width == full_width else 0.0,
            )
            self.add_module(f"down{index}", down)
            previous = width
        # up{j} mirrors down{num_downs - j}: it outputs that block's width and is concatenated with it.
        for index in range(1, num_downs):
            skip_width = widths[num_downs - index - 1]
            up = UNetUp(previous, skip_width, dropout=dropout if skip_width == full_width else 0.0)
            self.add_module(f"up{index}", up)
            previous = 2 * skip_width
        self.final = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.ZeroPad2d((1, 0, 1, 0)),
            nn.Conv2d(previous, out_channels, 4, padding=1),
            nn.Tanh(),
        )
        if init_std is not None:
            init_weights_normal_(self, init_std)

    @property
    def min_size(self) -> int:
        """Smallest accepted input side; every side must be a multiple of it."""
        return generator_min_size(self.num_downs)

    def forward(self, x: Tensor) -> Tensor:
        check_generator_input(x, self.num_downs)
        skips: list[Tensor] = []
        for index in range(1, self.num_downs + 1):
            x = getattr(self, f"down{index}")(x)
            skips.append(x)
        x = skips.pop()
        for index in range(1, self.num_downs):
            x = getattr(self, f"up{index}")(x, skips.pop())
        return self.final(x)


def check_generator_input(x: Tensor, num_downs: int = DEFAULT_NUM_DOWNS) -> None:
    """Raise ValueError unless ``x`` is (N, C, H, W) with H and W positive multiples of ``2 ** num_downs``."""
    step = generator_min_size(num_downs)
    if x.dim() != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    if height < step or width < step or height % step or width % step:
        raise ValueError(
            f"generator input must be at least {step}x{step} px with sides that are multiples of {step} "
            f"({num_downs} stride-2 down blocks); got {height}x{width}"
        )


class Discriminator(nn.Module):
    """PatchGAN discriminator scoring (image, condition) pairs; output (N, 1, H/16, W/16), no activation.

    Args:
        in_channels: channels of each of the two images (they are concatenated: 2 x in_channels in).
        base_channels: width of the first block (64 in the paper); the others are 2x, 4x, 8x.
        init_std: N(0, init_std) initialisation of convolution weights; ``None`` keeps PyTorch's.
    """

    def __init__(self, in_channels: int = 3, *, base_channels: int = BASE_CHANNELS, init_std: float | None = INIT_STD) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 2 * in_channels
        for index, width in enumerate(base_channels * f for f in DISCRIMINATOR_WIDTH_FACTORS):
            layers.append(nn.Conv2d(previous, width, 4, stride=2, padding=1))
            if index > 0:
                layers.append(nn.InstanceNorm2d(width))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE, inplace=True))
            previous = width
        layers += [nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(previous, 1, 4, padding=1, bias=False)]
        self.model = nn.Sequential(*layers)
        if init_std is not None:
            init_weights_normal_(self, init_std)

    def forward(self, image: Tensor, condition: Tensor) -> Tensor:
        check_discriminator_input(image, condition)
        return self.model(torch.cat((image, condition), dim=1))


def check_discriminator_input(image: Tensor, condition: Tensor) -> None:
    """Raise ValueError unless image and condition share (N, H, W) with sides multiples of 16, >= 32.

    The last instance norm runs at H/8 x W/8 and needs more than one spatial element, hence >= 32 px
    (sides that are not multiples of 16 would silently drop border pixels).
    """
    if image.dim() != 4 or condition.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) tensors, got {tuple(image.shape)} and {tuple(condition.shape)}")
    if image.shape[0] != condition.shape[0] or image.shape[-2:] != condition.shape[-2:]:
        raise ValueError(
            f"image and condition must share batch and spatial size, got {tuple(image.shape)} and {tuple(condition.shape)}"
        )
    height, width = image.shape[-2:]
    step = DISCRIMINATOR_STRIDE
    if height < 2 * step or width < 2 * step or height % step or width % step:
        raise ValueError(
            f"discriminator input must be at least {2 * step}x{2 * step} px with sides that are multiples "
            f"of {step}; got {height}x{width}"
        )
