"""Dataset adapters: each dataset's own on-disk layout -> one manifest (a DataFrame).

The raw files are only read, never moved or modified. A manifest has one row per image with
:data:`~.manifest.MANIFEST_COLUMNS` (``image_path`` relative to the dataset root, ``split``,
``label``, ``label_index``, ``subject``, ``dataset``) followed by dataset-specific columns.
Layouts, download pages and split rules are written down in ``data/README.md``.

>>> df = load_dataset("ckplus", Path("data/raw/CK+"), splits=["train", "val"])  # doctest: +SKIP
>>> write_manifest(df, "data/processed/ckplus/source_manifest.csv")               # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganon_utils.stages import PathLike

from . import affectnet, celeba, ckplus, faces, generic, wider_face
from .manifest import (
    IMAGE_SUFFIXES,
    MANIFEST_COLUMNS,
    SPLITS,
    filter_splits,
    manifest_problems,
    photo_groups,
    photo_subjects,
    read_manifest,
    subjects_of,
    validate_manifest,
    write_manifest,
)

AFFECTNET_EMOTIONS = affectnet.EMOTIONS
CKPLUS_EMOTIONS = ckplus.EMOTIONS
FACES_EMOTIONS = faces.EMOTIONS
CELEBA_ATTRIBUTES = celeba.ATTRIBUTES


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset: how to load and check it, its classes and where to get it."""

    name: str
    load: Callable[..., pd.DataFrame]
    check: Callable[..., list[str]]
    classes: tuple[str, ...]
    url: str
    summary: str


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(celeba.NAME, celeba.load, celeba.check, celeba.ATTRIBUTES, celeba.URL,
                    "CelebA: 202,599 aligned faces, 40 binary attributes (generator training, traits)"),
        DatasetSpec(wider_face.NAME, wider_face.load, wider_face.check, wider_face.CLASSES, wider_face.URL,
                    "WIDER FACE: 32,203 images in 61 events (anonymisation, Table 1)"),
        DatasetSpec(affectnet.NAME, affectnet.load, affectnet.check, affectnet.EMOTIONS, affectnet.URL,
                    "AffectNet: in-the-wild faces, 8 emotions (Tables 2-4)"),
        DatasetSpec(ckplus.NAME, ckplus.load, ckplus.check, ckplus.EMOTIONS, ckplus.URL,
                    "CK+: 327 labelled peak frames, 7 emotions, split by subject (Tables 2-4)"),
        DatasetSpec(faces.NAME, faces.load, faces.check, faces.EMOTIONS, faces.URL,
                    "FACES: 2,052 images, 6 emotions, split by subject (Tables 2-4)"),
        DatasetSpec(generic.NAME, generic.load, generic.check, generic.CLASSES, generic.URL,
                    "any dataset as class folders or a label CSV"),
    )
}  # fmt: skip
"""Registered datasets by canonical name."""

ALIASES: dict[str, str] = {
    "ck+": "ckplus", "ck_plus": "ckplus", "ck": "ckplus",
    "widerface": "wider_face", "wider": "wider_face", "wider-face": "wider_face",
    "affect_net": "affectnet", "celeb_a": "celeba",
}  # fmt: skip


def dataset_spec(name: str) -> DatasetSpec:
    """The registered dataset for ``name`` (case-insensitive; aliases such as ``CK+`` accepted)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[key]


def _accepted(function: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise TypeError(f"{function.__module__}.{function.__name__} has no option(s) {unknown}")
    return options


def load_dataset(name: str, root: PathLike, /, *, splits: Iterable[str] | None = None, **options: Any) -> pd.DataFrame:
    """Read dataset ``name`` at ``root`` in its original layout and return its manifest.

    ``splits`` keeps only those splits (e.g. ``["train", "val"]`` for the paper, which does not
    use CelebA's or WIDER FACE's test images). ``options`` go to the dataset's adapter, e.g.
    ``val_fraction``/``seed`` for CK+ and FACES, ``layout`` for AffectNet, ``csv`` for generic.
    Raises ``FileNotFoundError`` naming every missing part (see :func:`check_dataset`).
    """
    spec = dataset_spec(name)
    df = spec.load(Path(root), **_accepted(spec.load, options))
    return filter_splits(df, splits)


def check_dataset(name: str, root: PathLike, /, **options: Any) -> list[str]:
    """Human-readable problems that would stop :func:`load_dataset`; never raises.

    Each problem names the expected path, so a run can print everything missing before it
    starts. Only options the adapter's check understands (AffectNet ``layout``, generic ``csv``)
    are used; the others are ignored.
    """
    try:
        spec = dataset_spec(name)
    except KeyError as error:
        return [str(error.args[0])]
    accepted = inspect.signature(spec.check).parameters
    try:
        return spec.check(Path(root), **{k: v for k, v in options.items() if k in accepted})
    except OSError as error:
        return [f"{spec.name}: cannot read {root}: {error}"]


__all__ = [
    "AFFECTNET_EMOTIONS",
    "ALIASES",
    "CELEBA_ATTRIBUTES",
    "CKPLUS_EMOTIONS",
    "DATASETS",
    "FACES_EMOTIONS",
    "IMAGE_SUFFIXES",
    "MANIFEST_COLUMNS",
    "SPLITS",
    "DatasetSpec",
    "check_dataset",
    "dataset_spec",
    "load_dataset",
    "manifest_problems",
    "photo_groups",
    "photo_subjects",
    "read_manifest",
    "subjects_of",
    "validate_manifest",
    "write_manifest",
]
