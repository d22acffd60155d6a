"""Landmark images made on the tensor's device: the generator's condition, rendered inside the training step.

:func:`render_landmarks_torch` draws exactly the pixels of the NumPy reference
:func:`ganon_utils.preprocess.landmarks.render_landmarks`, in either style (``mediapipe``: the authors' grey 5-pixel
plus per point at ``min(floor(u * size), size - 1)``; ``pixel``: one white pixel at ``floor(u * size)``), normalised
as the generator sees it, for a whole batch at once and without leaving the device: the landmark coordinates travel
to the GPU (478 x 2 floats per face) instead of a 512 x 512 x 3 image read from disk.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ganon_utils.preprocess.landmarks import DEFAULT_STYLE, MEDIAPIPE_GREY, PIXEL_WHITE, check_style, mediapipe_stamp


def normalized_level(grey: int) -> float:
    """A uint8 grey level as the generator sees it: ToTensor then Normalize(0.5, 0.5), in float32 arithmetic (the
    same operations as :func:`ganon_utils.anonymize.synthesis.images_to_input`, so the two agree exactly)."""
    value = torch.tensor(float(grey), dtype=torch.float32).div_(255.0)
    return float(value.sub_(0.5).div_(0.5))


def mediapipe_flat_indices(coords: Tensor, size: int, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Flat indices (B, N * 5) of the pixels MediaPipe's drawing lights and whether each is drawn.

    A point counts when x and y lie in [0, 1] (1 within 1e-9 relative, as ``math.isclose``) and sits at
    ``min(floor(u * size), size - 1)``; each counted point lights its :func:`mediapipe_stamp` inside the image.
    """
    if coords.dim() != 3 or coords.shape[-1] not in (2, 3):
        raise ValueError(f"expected landmark coordinates of shape (B, N, 2 or 3), got {tuple(coords.shape)}")
    xy = coords[..., :2].to(torch.float64)
    near_one = (xy - 1).abs() <= 1e-9 * torch.clamp(xy.abs(), min=1.0)
    counted = ((xy >= 0) & ((xy < 1) | near_one)).all(dim=-1)  # False for NaN as well
    if valid is not None:
        if valid.shape != coords.shape[:1]:
            raise ValueError(f"valid must have shape ({coords.shape[0]},), got {tuple(valid.shape)}")
        counted = counted & valid.to(device=coords.device, dtype=torch.bool)[:, None]
    pixels = torch.clamp(torch.floor(torch.where(counted[..., None], xy, torch.zeros_like(xy)) * size), max=size - 1)
    offsets = torch.tensor(mediapipe_stamp(), dtype=torch.float64, device=coords.device)  # (5, 2) as (row, col)
    rows = pixels[..., 1:2] + offsets[:, 0]  # (B, N, 5)
    cols = pixels[..., 0:1] + offsets[:, 1]
    inside = counted[..., None] & (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    index = torch.where(inside, rows * size + cols, torch.zeros_like(rows)).to(torch.int64)
    batch = coords.shape[0]
    return index.reshape(batch, -1), inside.reshape(batch, -1)


def landmark_flat_indices(coords: Tensor, size: int, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Flat pixel index ``row * size + col`` of every landmark and whether it is drawn.

    Args:
        coords: (B, N, 2 or 3) normalised landmarks; x and y are the first two columns.
        size: side of the square image in pixels.
        valid: optional (B,) bool; rows marked False draw nothing.

    Returns:
        ``(index, inside)``, both (B, N): int64 indices (meaningless where ``inside`` is False) and a
        bool mask of the points that land inside the image. Computed in float64 so that
        ``floor(u * size)`` rounds as the NumPy renderer does (a float32 product can round up onto
        the next pixel).
    """
    if coords.dim() != 3 or coords.shape[-1] not in (2, 3):
        raise ValueError(f"expected landmark coordinates of shape (B, N, 2 or 3), got {tuple(coords.shape)}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    pixels = torch.floor(coords[..., :2].to(torch.float64) * size)
    inside = ((pixels >= 0) & (pixels < size)).all(dim=-1)  # False for NaN as well
    if valid is not None:
        if valid.shape != coords.shape[:1]:
            raise ValueError(f"valid must have shape ({coords.shape[0]},), got {tuple(valid.shape)}")
        inside = inside & valid.to(device=coords.device, dtype=torch.bool)[:, None]
    pixels = torch.where(inside[..., None], pixels, torch.zeros_like(pixels)).to(torch.int64)
    return pixels[..., 1] * size + pixels[..., 0], inside


def render_landmarks_torch(
    coords: Tensor,
    size: int,
    *,
    channels: int = 3,
    valid: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    style: str = DEFAULT_STYLE,
    crop_size: int | None = None,
) -> Tensor:
    """The landmark images of a batch, normalised, on ``coords.device`` (see the module docstring for the styles).

    Args:
        coords: (B, N, 2 or 3) landmarks with x and y normalised to [0, 1) of the face image.
        size: side of the square output in pixels.
        channels: channels of the output (the same plane repeated; 3 for the generator's input).
        valid: optional (B,) bool; rows marked False (no landmarks found) give an all-black image,
            from which the paper's generator synthesises an "average face".
        dtype: floating dtype of the output.
        style: ``mediapipe`` (the authors' drawing, default) or ``pixel`` (the paper's text).
        crop_size: draw at this side (the face crop's, as the authors drew their landmark images) and resize to
            ``size`` as their data pipeline did (ToTensor, Resize: bilinear, anti-aliased; Normalize); default ``size``.

    Returns:
        (B, channels, size, size) tensor: landmark pixels at the style's grey level (224 or 255) and everything
        else at 0, normalised with mean = std = 0.5 (so -1 and 224/255 * 2 - 1 or 1), as the NumPy rendering
        becomes in :func:`ganon_utils.anonymize.synthesis.images_to_input`. Sync-free: points that are not
        drawn are scattered into one spare element past the end of the buffer, which is then cut off.
    """
    check_style(style)
    batch = coords.shape[0]
    draw = int(crop_size or size)
    if size < 1 or draw < 1:
        raise ValueError(f"size and crop_size must be positive, got {size} and {crop_size}")
    locate = landmark_flat_indices if style == "pixel" else mediapipe_flat_indices
    index, inside = locate(coords, draw, valid)
    grey = PIXEL_WHITE if style == "pixel" else MEDIAPIPE_GREY
    resize = draw != size
    plane = draw * draw
    spare = batch * plane
    offsets = torch.arange(batch, device=coords.device, dtype=torch.int64)[:, None] * plane
    flat = torch.where(inside, index + offsets, torch.full_like(index, spare)).reshape(-1)
    if resize:  # ToTensor values, resized, then normalised: the order of the authors' transforms
        buffer = torch.zeros(spare + 1, device=coords.device, dtype=torch.float32)
        buffer.index_fill_(0, flat, float(torch.tensor(float(grey), dtype=torch.float32).div_(255.0)))
        image = F.interpolate(buffer[:spare].view(batch, 1, draw, draw), size=(size, size), mode="bilinear",
                              align_corners=False, antialias=True)  # fmt: skip
        image = image.sub_(0.5).div_(0.5).to(dtype)
    else:
        buffer = torch.full((spare + 1,), -1.0, device=coords.device, dtype=dtype)
        buffer.index_fill_(0, flat, normalized_level(grey))
        image = buffer[:spare].view(batch, 1, size, size)
    return image.expand(batch, channels, size, size).contiguous()
