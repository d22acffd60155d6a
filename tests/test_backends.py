"""The paper's backends run through their real loading code with weight files we generate.

RetinaFace and the head-segmentation U-Net weights cannot be downloaded here; the tests save randomly
initialised weights at the exact paths the libraries read and check that the stages use them, and that a
missing file stops at once with a message naming it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ganon_utils.preprocess import PreprocessConfig, run_preprocess, tasks_from_folder
from ganon_utils.preprocess.detection import FaceDetection, build_detector
from ganon_utils.preprocess.segmentation import build_segmenter
from ganon_utils.weights import MissingWeightError, weight_path


@pytest.fixture()
def empty_homes(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface_home"))
    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path / "weights"))
    return tmp_path


@pytest.mark.parametrize(
    ("build", "name", "key"), [(build_detector, "retinaface", "retinaface"), (build_segmenter, "head_unet", "head_segmentation")]
)
def test_missing_weight_fails_fast_naming_the_file(empty_homes, build, name, key) -> None:
    start = time.perf_counter()
    with pytest.raises(MissingWeightError) as error:
        build(name)
    assert time.perf_counter() - start < 2.0
    assert str(weight_path(key)) in str(error.value)
    assert str(empty_homes) in str(weight_path(key))  # resolved under the configured homes


@pytest.mark.parametrize(("config", "filename"), [
    (PreprocessConfig(detector="retinaface"), "retinaface.pth"),
    (PreprocessConfig(segmenter="head_unet"), "head_segmentation.ckpt"),
])  # fmt: skip
def test_preprocess_stops_before_any_work_when_a_weight_is_missing(empty_homes, astronaut, config, filename) -> None:
    from PIL import Image

    folder = empty_homes / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "a.png")
    with pytest.raises(MissingWeightError, match=filename):
        run_preprocess(tasks_from_folder(folder), empty_homes / "out", config, n_workers=2, progress=False)
    assert not (empty_homes / "out").exists()  # nothing started


@pytest.mark.slow
def test_retinaface_runs_from_a_weight_file_at_the_packages_path(empty_homes, astronaut) -> None:
    from retinaface.model.retinaface_pth_model import RetinaFace

    torch.manual_seed(0)
    path = weight_path("retinaface")
    path.parent.mkdir(parents=True)
    torch.save(RetinaFace().state_dict(), path)
    detector = build_detector("retinaface", threshold=0.5, allow_upscaling=False)
    loaded = dict(detector._model.state_dict())
    saved = torch.load(path, weights_only=True)
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)  # the package loaded our file
    faces = detector(np.ascontiguousarray(astronaut[::2, ::2]))
    assert isinstance(faces, list) and all(isinstance(f, FaceDetection) for f in faces)
