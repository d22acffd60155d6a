"""The manifest: one row per raw image, the contract between dataset adapters and preprocessing.

Every adapter returns a :class:`pandas.DataFrame` with the columns in :data:`MANIFEST_COLUMNS`
(in that order), followed by dataset-specific columns (CelebA's 40 attributes, WIDER FACE's face
counts, ...). Paths are relative to the dataset root and use ``/`` on every platform, so a
manifest written on one machine is valid on another that holds the same dataset elsewhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganon_utils.stages import PathLike

from ..atomic_files import write_csv_atomic, write_text_atomic
from ..image_io import IMAGE_SUFFIXES, image_id_for  # the suffixes preprocessing reads; one list for the package

MANIFEST_COLUMNS: tuple[str, ...] = ("image_path", "split", "label", "label_index", "subject", "dataset")
"""Columns every manifest starts with, in this order."""

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""Allowed values of the ``split`` column."""


_STRING_COLUMNS = ("image_path", "split", "label", "subject", "dataset")


def is_image_file(name: str) -> bool:
    """True when ``name`` ends with a known image suffix (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def list_files(folder: Path, root: Path) -> list[str]:
    """All regular files below ``folder`` as sorted POSIX paths relative to ``root``.

    Hidden files and folders (``.DS_Store``, ``._*`` from macOS archives) are skipped.
    A missing folder yields an empty list.
    """
    found: list[str] = []
    if not folder.is_dir():
        return found
    for directory, subdirs, files in os.walk(folder):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        rel_dir = Path(directory).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        found.extend(prefix + f for f in files if not f.startswith("."))
    found.sort()
    return found


def list_images(folder: Path, root: Path) -> list[str]:
    """Image files below ``folder`` (see :func:`list_files`), relative to ``root``."""
    return [p for p in list_files(folder, root) if is_image_file(p)]


def build_manifest(
    rows: pd.DataFrame | Mapping[str, Sequence[Any]],
    dataset: str,
    attrs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Normalise adapter output into a manifest: column order, dtypes, row order, attrs.

    ``rows`` needs ``image_path`` and ``split``; ``label`` defaults to ``""``, ``label_index`` to
    -1 and ``subject`` to ``""``. Rows are sorted by ``image_path`` so a manifest does not depend
    on the order a file system lists files in. The result is validated with
    :func:`validate_manifest`.
    """
    df = pd.DataFrame(rows).copy()
    n = len(df)
    if "label" not in df:
        df["label"] = [""] * n
    if "label_index" not in df:
        df["label_index"] = [-1] * n
    if "subject" not in df:
        df["subject"] = [""] * n
    df["dataset"] = [dataset] * n
    for column in _STRING_COLUMNS:
        df[column] = df[column].astype(object).where(df[column].notna(), "").astype(str)
    df["label_index"] = df["label_index"].astype(np.int64)
    extra = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    df = df[list(MANIFEST_COLUMNS) + extra]
    df = df.sort_values("image_path", kind="stable").reset_index(drop=True)
    validate_manifest(df)
    df.attrs = {"dataset": dataset, **dict(attrs or {})}
    return df


def manifest_problems(df: pd.DataFrame) -> list[str]:
    """Human-readable reasons why ``df`` is not a valid manifest (empty when it is)."""
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        return [f"missing columns: {', '.join(missing)}"]
    problems: list[str] = []
    bad_split = sorted(set(df["split"]) - set(SPLITS))
    if bad_split:
        problems.append(f"split values outside {SPLITS}: {bad_split}")
    paths = df["image_path"].astype(str)
    bad_paths = [p for p in paths if not _is_relative_posix(p)]
    if bad_paths:
        problems.append(f"image_path must be relative POSIX paths inside the root, e.g. {bad_paths[:3]}")
    duplicated = paths[paths.duplicated()].tolist()
    if duplicated:
        problems.append(f"duplicate image_path values, e.g. {duplicated[:3]}")
    labelled = df["label"].astype(str) != ""
    index = df["label_index"].astype(np.int64)
    if ((index < 0) & labelled).any() or ((index >= 0) & ~labelled).any():
        problems.append("label_index must be -1 exactly where label is empty")
    per_label = df.loc[labelled].groupby("label")["label_index"].nunique()
    if (per_label > 1).any():
        problems.append(f"labels with more than one label_index: {per_label[per_label > 1].index.tolist()}")
    per_index = df.loc[labelled].groupby("label_index")["label"].nunique()
    if (per_index > 1).any():
        problems.append(f"label_index values shared by several labels: {per_index[per_index > 1].index.tolist()}")
    return problems


def validate_manifest(df: pd.DataFrame) -> None:
    """Raise ``ValueError`` listing every problem when ``df`` is not a valid manifest."""
    problems = manifest_problems(df)
    if problems:
        raise ValueError("invalid manifest: " + "; ".join(problems))


def _is_relative_posix(path: str) -> bool:
    if not path or "\\" in path or path.startswith("/") or path[1:2] == ":":
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def attrs_path(manifest_path: Path) -> Path:
    """Where :func:`write_manifest` keeps ``df.attrs``: ``<name>.attrs.json`` beside the CSV."""
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(manifest_path.stem + ".attrs.json")


def write_manifest(df: pd.DataFrame, path: PathLike) -> Path:
    """Write ``df`` as CSV atomically (temp file in the same folder, then ``os.replace``).

    ``df.attrs`` (excluded-label counts, missing files, split options) go to
    :func:`attrs_path` the same way, so a later stage can report them. Returns the CSV path.
    """
    validate_manifest(df)
    path = Path(path)
    write_csv_atomic(path, df)
    sidecar = attrs_path(path)
    if df.attrs:
        write_text_atomic(sidecar, json.dumps(_jsonable(df.attrs), indent=2, sort_keys=True) + "\n")
    elif sidecar.exists():
        sidecar.unlink()
    return path


def read_manifest(path: PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest`, keeping ids such as ``"004"`` as text."""
    path = Path(path)
    dtypes = {c: str for c in _STRING_COLUMNS}
    df = pd.read_csv(path, dtype=dtypes, keep_default_na=False)
    df["label_index"] = df["label_index"].astype(np.int64)
    validate_manifest(df)
    sidecar = attrs_path(path)
    if sidecar.is_file():
        df.attrs = json.loads(sidecar.read_text(encoding="utf-8"))
    return df


DATASET_MANIFEST_NAME = "dataset_manifest.csv"
"""The adapter's manifest as stage 01 saves it beside its outputs (notebook 01)."""


def _photo_column(preprocess_dir: PathLike, column: str) -> dict[str, str] | None:
    """``column`` of a stage-01 folder's dataset manifest per photo (by stage-01 image id, values stripped); None
    when the folder has no dataset manifest or the manifest lacks the column."""
    path = Path(preprocess_dir) / DATASET_MANIFEST_NAME
    if not path.is_file():
        return None
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    if column not in manifest.columns or "image_path" not in manifest.columns:
        return None
    return dict(zip((image_id_for(p) for p in manifest["image_path"]), manifest[column].str.strip()))


def photo_subjects(preprocess_dir: PathLike) -> dict[str, str] | None:
    """Subject per photo (by stage-01 image id) from a stage-01 folder's ``dataset_manifest.csv``.

    Photos without a subject map to ``""``. None when the folder has no dataset manifest or the
    manifest no ``subject`` column (a plain folder of photos: nobody is named).
    """
    return _photo_column(preprocess_dir, "subject")


def photo_groups(preprocess_dir: PathLike) -> dict[str, str]:
    """The source photo of each stage-01 image (by image id) where the dataset manifest names one in a ``photo``
    column (a crop or copy of another file maps to that file's image id); images without one are absent."""
    photos = _photo_column(preprocess_dir, "photo") or {}
    return {image: image_id_for(photo) for image, photo in photos.items() if photo}


def subjects_of(preprocess_dir: PathLike, image_ids: Iterable[str]) -> set[str] | None:
    """The named subjects among the photos ``image_ids`` of a stage-01 folder (None: it names nobody)."""
    subjects = photo_subjects(preprocess_dir)
    if subjects is None:
        return None
    return {subjects[i] for i in image_ids if subjects.get(i)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return value.as_posix()
    return value


def filter_splits(df: pd.DataFrame, splits: Iterable[str] | None) -> pd.DataFrame:
    """Rows whose split is in ``splits`` (all rows when ``splits`` is None), attrs kept."""
    if splits is None:
        return df
    wanted = list(splits)
    unknown = sorted(set(wanted) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; choose from {SPLITS}")
    attrs = dict(df.attrs)
    out = df.loc[df["split"].isin(wanted)].reset_index(drop=True)
    out.attrs = {**attrs, "splits": wanted}
    return out
