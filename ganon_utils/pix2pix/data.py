"""Training pairs from the preprocessing stage: (face image, landmark coordinates).

The dataset reads ``faces.csv`` of a stage-01 output folder and keeps the faces whose landmarks were
found (status ``ok``); with ``without_landmarks=True`` also the faces where none were found (status
``no_landmarks``), whose coordinates are NaN, so they are drawn as an all-black landmark image: the authors' code
trained on such pairs, which is how their generator learnt its "average face". All landmark coordinates are loaded
once into one (N, 478, 2) array; face images are read per item with OpenCV. The landmark image itself is not made here: the training step
renders it on the device from the coordinates (:func:`ganon_utils.pix2pix.render.render_landmarks_torch`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ganon_utils.preprocess.landmarks import NUM_LANDMARKS
from ganon_utils.preprocess.pipeline import read_stage_outputs
from ganon_utils.stages import FACE_NO_LANDMARKS, FACE_OK, PathLike

ALL_SPLITS = "all"
"""Split name of plain image folders (no dataset adapter) in stage 01's tables."""


def split_names(split: str | None) -> list[str] | None:
    """The splits a ``split`` setting names: one name, several joined by ``+`` (``"train+test"``), or None (all)."""
    if split is None:
        return None
    names = [name.strip() for name in split.split("+")]
    if not all(names):
        raise ValueError(f"split must be a name or names joined by '+', e.g. 'train+test'; got {split!r}")
    return names


def read_face_table(preprocess_dir: PathLike, split: str | None = None, *, without_landmarks: bool = False) -> pd.DataFrame:
    """Rows of ``faces.csv`` with status ``ok`` (landmarks found; with ``without_landmarks`` also ``no_landmarks``),
    optionally of some splits (:func:`split_names`), in file order.

    Raises:
        FileNotFoundError: ``faces.csv`` or ``config.json`` is missing (stage 01 has not finished there).
        ValueError: no row qualifies (the message lists the splits that exist).
    """
    path = Path(preprocess_dir) / "faces.csv"
    table, _ = read_stage_outputs(preprocess_dir)
    statuses = [FACE_OK, FACE_NO_LANDMARKS] if without_landmarks else [FACE_OK]
    usable = table[table["status"].isin(statuses) & (table["face_path"].fillna("") != "")]
    names = split_names(split)
    chosen = usable if names is None else usable[usable["split"].isin(names)]
    if chosen.empty or not (chosen["status"] == FACE_OK).any():
        splits = sorted(table.loc[table["status"] == FACE_OK, "split"].unique())
        wanted = f" in split {split!r}" if split is not None else ""
        raise ValueError(f"{path} has no face with landmarks (status 'ok'){wanted}; splits with such faces: {splits}")
    return chosen.reset_index(drop=True)


def load_landmark_coords(preprocess_dir: PathLike, landmarks_paths: Sequence[str]) -> np.ndarray:
    """The x, y columns of every landmark file, stacked into one (N, 478, 2) float32 array; NaN for a face without
    landmarks (an empty path), which renders as an all-black landmark image."""
    root = Path(preprocess_dir)
    coords = np.full((len(landmarks_paths), NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
    for index, relative in enumerate(landmarks_paths):
        if not isinstance(relative, str) or not relative:
            continue
        points = np.load(root / relative, allow_pickle=False)
        if points.ndim != 2 or points.shape[0] != NUM_LANDMARKS or points.shape[1] < 2:
            raise ValueError(f"{root / relative}: expected ({NUM_LANDMARKS}, 2 or 3) landmarks, got {points.shape}")
        coords[index] = points[:, :2]
    return coords


def read_face_rgb(path: PathLike) -> np.ndarray:
    """An (H, W, 3) uint8 RGB face image read with OpenCV; raises OSError when it cannot be read."""
    bgr = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"could not read face image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def resize_face(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size``: area interpolation when shrinking (no aliasing), bicubic when enlarging."""
    height, width = rgb.shape[:2]
    if (height, width) == (size, size):
        return rgb
    shrinking = size < height or size < width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


def face_to_tensor(rgb: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 normalised with mean = std = 0.5, i.e. in [-1, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
    return tensor.div_(127.5).sub_(1.0)


class FaceLandmarkDataset(Dataset[tuple[Tensor, Tensor]]):
    """(face, landmark coordinates) pairs of the faces with landmarks in a stage-01 output folder.

    Args:
        preprocess_dir: output folder of the preprocessing stage (``faces.csv``, ``faces/``, ``landmarks/``).
        split: keep only this split (``"train"``, ``"val"``, ... or ``"all"`` for a plain image folder) or these
            (``"train+test"``); ``None`` keeps every split.
        image_size: side of the returned face tensors; smaller than the stored size -> area interpolation.
        without_landmarks: also the faces where no landmarks were found, paired with NaN coordinates (a black
            landmark image), as the authors trained.

    Items are ``(face, coords)``: face (3, image_size, image_size) float32 in [-1, 1]; coords
    (478, 2) float32, x and y normalised to [0, 1) of the face image (resizing does not change them).
    """

    def __init__(
        self, preprocess_dir: PathLike, split: str | None = None, image_size: int = 512, *, without_landmarks: bool = False
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.root = Path(preprocess_dir)
        self.split = split
        self.image_size = image_size
        self.table = read_face_table(self.root, split, without_landmarks=without_landmarks)
        self.face_ids: list[str] = self.table["face_id"].tolist()
        self.face_paths: list[str] = self.table["face_path"].tolist()
        with_landmarks = self.table["status"] == FACE_OK
        self.coords = load_landmark_coords(self.root, self.table["landmarks_path"].where(with_landmarks, "").tolist())

    def __len__(self) -> int:
        return len(self.face_ids)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        rgb = resize_face(read_face_rgb(self.root / self.face_paths[index]), self.image_size)
        return face_to_tensor(rgb), torch.from_numpy(self.coords[index])


class EpochShuffleSampler(Sampler[int]):
    """Indices in an order that depends only on ``seed + epoch`` (set with :meth:`set_epoch`).

    An interrupted run that resumes at epoch ``e`` therefore sees the same order as an uninterrupted
    one, whatever happened to any other random generator in between (the pattern of
    ``DistributedSampler.set_epoch``). With ``shuffle=False`` the order is 0 .. n-1.
    """

    def __init__(self, num_items: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> list[int]:
        """The indices of the current epoch."""
        if not self.shuffle:
            return list(range(self.num_items))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.num_items, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.order())

    def __len__(self) -> int:
        return self.num_items


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    num_workers: int = 0,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    pin_memory: bool | None = None,
    num_replicas: int = 1,
    rank: int = 0,
) -> DataLoader:
    """A DataLoader whose order is reproducible: epoch ``e`` is ``randperm`` seeded with ``seed + e``.

    Call ``loader.sampler.set_epoch(e)`` before iterating epoch ``e``. With ``num_replicas > 1``
    (distributed training) the loader of process ``rank`` reads every ``num_replicas``-th item of that
    same order (``DistributedSampler``; the order is padded to a multiple of ``num_replicas``). Workers are persistent (started
    once, reused every epoch); memory is pinned when CUDA is available (``pin_memory=None``). The
    loader gets its own seeded generator, so creating its iterators never draws from the global torch
    generator (which drives dropout; a draw there would break bit-identical resuming).

    Workers are forked on Linux (explicitly: Python 3.14 changes the default to forkserver, which would
    re-import ``__main__``, i.e. rerun ``python -m ganon_utils train``, in every worker). They must not reconfigure OpenCV's thread pool (``cv2.setNumThreads`` in a
    forked child deadlocks on the pool inherited from the parent); reading and resizing are safe.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    sampler: Sampler[int]
    if num_replicas > 1:
        sampler = DistributedSampler(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )
    else:
        sampler = EpochShuffleSampler(len(dataset), seed=seed, shuffle=shuffle)  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
        prefetch_factor=4 if num_workers > 0 else None,
        multiprocessing_context="fork" if num_workers > 0 and sys.platform.startswith("linux") else None,
    )
