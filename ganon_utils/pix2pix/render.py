"""Landmark images made on the tensor's device: the generator's condition, rendered inside the training step.

:func:`render_landmarks_torch` draws exactly the pixels of the NumPy reference
:func:`ganon_utils.preprocess.landmarks.render_landmarks` (one white pixel per landmark at
``floor(u * size)``, points outside ``[0, 1)`` dropped), for a whole batch at once and without
leaving the device: the landmark coordinates travel to the GPU (478 x 2 floats per face) instead of
a 512 x 512 x 3 image read from disk.
"""

from __future__ import annotations

import torch
from torch import Tensor


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
) -> Tensor:
    """Draw each landmark as one white pixel on a black image, for a batch, on ``coords.device``.

    Args:
        coords: (B, N, 2 or 3) landmarks with x and y normalised to [0, 1) of the face image.
        size: side of the square output in pixels.
        channels: channels of the output (the same plane repeated; 3 for the generator's input).
        valid: optional (B,) bool; rows marked False (no landmarks found) give an all-black image,
            from which the paper's generator synthesises an "average face".
        dtype: floating dtype of the output.

    Returns:
        (B, channels, size, size) tensor with landmark pixels 1 and everything else -1, i.e. the
        NumPy rendering normalised with mean = std = 0.5. Sync-free: points that are not drawn are
        scattered into one spare element past the end of the buffer, which is then cut off.
    """
    batch = coords.shape[0]
    index, inside = landmark_flat_indices(coords, size, valid)
    plane = size * size
    spare = batch * plane
    offsets = torch.arange(batch, device=coords.device, dtype=torch.int64)[:, None] * plane
    flat = torch.where(inside, index + offsets, torch.full_like(index, spare)).reshape(-1)
    buffer = torch.zeros(spare + 1, device=coords.device, dtype=dtype)
    buffer.index_fill_(0, flat, 1.0)
    image = buffer[:spare].view(batch, 1, size, size).mul_(2.0).sub_(1.0)
    return image.expand(batch, channels, size, size).contiguous()
