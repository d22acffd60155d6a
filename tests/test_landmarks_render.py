"""render_landmarks: MediaPipe's drawing (the authors', default) byte for byte, or one white pixel per point."""

from __future__ import annotations

import numpy as np
import pytest

from ganon_utils.preprocess.landmarks import NUM_LANDMARKS, landmark_pixels, render_landmarks


def test_pixel_style_one_white_pixel_per_distinct_point() -> None:
    points = np.array([[0.0, 0.0, 0.0], [0.5, 0.25, 0.1], [0.999, 0.999, 0.0]], dtype=np.float32)
    image = render_landmarks(points, 8, style="pixel")
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    white = np.argwhere(image[..., 0] == 255)
    assert sorted(map(tuple, white)) == [(0, 0), (2, 4), (7, 7)]
    assert set(np.unique(image)) == {0, 255}
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


@pytest.mark.parametrize("size", [64, 256, (128, 96)])
def test_any_size_and_rectangular(size) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, size=(NUM_LANDMARKS, 3)).astype(np.float32)
    image = render_landmarks(points, size, channels=1, style="pixel")
    height, width = (size, size) if isinstance(size, int) else size
    assert image.shape == (height, width)
    rows, cols = landmark_pixels(points, height, width)
    assert (image > 0).sum() == len(set(zip(rows.tolist(), cols.tolist())))
    assert image[rows, cols].min() == 255


def test_points_outside_are_dropped_not_clipped() -> None:
    points = np.array([[-0.01, 0.5, 0], [1.0, 0.5, 0], [0.5, 1.2, 0], [0.5, 0.5, 0]], dtype=np.float32)
    image = render_landmarks(points, 10, channels=1, style="pixel")
    assert np.argwhere(image).tolist() == [[5, 5]]


def test_none_gives_black_image() -> None:
    assert not render_landmarks(None, 32).any()


def mediapipe_drawing(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """What the authors' code drew: MediaPipe's draw_landmarks on np.zeros with DrawingSpec(WHITE_COLOR, 1, 0)."""
    from mediapipe.framework.formats import landmark_pb2
    from mediapipe.python.solutions import drawing_utils

    landmark_list = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in np.asarray(points, np.float32):
        landmark_list.landmark.add(x=float(x), y=float(y), z=float(z))
    image = np.zeros((height, width, 3), np.uint8)
    spec = drawing_utils.DrawingSpec(color=drawing_utils.WHITE_COLOR, thickness=1, circle_radius=0)
    drawing_utils.draw_landmarks(image=image, landmark_list=landmark_list, landmark_drawing_spec=spec)
    return image


EDGE_POINTS = np.array([[0.0, 0.0, 0], [1.0, 1.0, 0], [1.0, 0.5, 0], [0.0, 0.999999, 0], [-1e-7, 0.5, 0],
                        [0.5, 1.0000001, 0], [0.25, -0.01, 0], [0.9999, 0.0001, 0]], np.float32)  # fmt: skip


@pytest.mark.parametrize("size", [512, 256, 64, (480, 640), (100, 37)])
def test_mediapipe_style_equals_mediapipes_own_drawing(size) -> None:
    height, width = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(height * 1000 + width)
    points = rng.uniform(-0.05, 1.05, size=(NUM_LANDMARKS, 3)).astype(np.float32)  # some outside the image
    for case in (points, EDGE_POINTS, points[:3]):
        ours = render_landmarks(case, (height, width))
        assert np.array_equal(ours, mediapipe_drawing(case, height, width)), size
    assert set(np.unique(render_landmarks(points, (height, width)))) == {0, 224}


def test_mediapipe_style_on_real_landmarks(astronaut) -> None:
    from ganon_utils.preprocess.landmarks import LandmarkExtractor

    points = LandmarkExtractor()(astronaut[20:300, 120:360])
    assert points is not None and points.shape == (NUM_LANDMARKS, 3)
    for size in (512, 256, 128):
        assert np.array_equal(render_landmarks(points, size), mediapipe_drawing(points, size, size))
    lit = (render_landmarks(points, 512)[..., 0] > 0).sum()
    assert lit > 3 * (render_landmarks(points, 512, style="pixel")[..., 0] > 0).sum()  # the plus, not one pixel


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="landmark style"):
        render_landmarks(EDGE_POINTS, 32, style="dots")
