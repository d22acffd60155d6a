"""render_landmarks: one white pixel per point on black, at any size."""

from __future__ import annotations

import numpy as np
import pytest

from ganon_utils.preprocess.landmarks import NUM_LANDMARKS, landmark_pixels, render_landmarks


def test_one_white_pixel_per_distinct_point() -> None:
    points = np.array([[0.0, 0.0, 0.0], [0.5, 0.25, 0.1], [0.999, 0.999, 0.0]], dtype=np.float32)
    image = render_landmarks(points, 8)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    white = np.argwhere(image[..., 0] == 255)
    assert sorted(map(tuple, white)) == [(0, 0), (2, 4), (7, 7)]
    assert set(np.unique(image)) == {0, 255}
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


@pytest.mark.parametrize("size", [64, 256, (128, 96)])
def test_any_size_and_rectangular(size) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, size=(NUM_LANDMARKS, 3)).astype(np.float32)
    image = render_landmarks(points, size, channels=1)
    height, width = (size, size) if isinstance(size, int) else size
    assert image.shape == (height, width)
    rows, cols = landmark_pixels(points, height, width)
    assert (image > 0).sum() == len(set(zip(rows.tolist(), cols.tolist())))
    assert image[rows, cols].min() == 255


def test_points_outside_are_dropped_not_clipped() -> None:
    points = np.array([[-0.01, 0.5, 0], [1.0, 0.5, 0], [0.5, 1.2, 0], [0.5, 0.5, 0]], dtype=np.float32)
    image = render_landmarks(points, 10, channels=1)
    assert np.argwhere(image).tolist() == [[5, 5]]


def test_none_gives_black_image() -> None:
    assert not render_landmarks(None, 32).any()
