"""What the preprocessing stage reads: named datasets, each a folder or a dataset in its own layout.

A profile lists them as ``{name: {"root": folder, "adapter": None | adapter name, "options": {...},
"settings": {...}}}``; each is preprocessed into ``<output_root>/<name>/``. ``adapter`` None takes every image
under ``root`` (split ``all``); an adapter name (see :mod:`ganon_utils.datasets`) reads the dataset's original
layout with its splits and labels. ``settings`` overrides the stage's settings (:class:`PreprocessConfig`
fields) for that dataset only, e.g. ``{"detector": "yunet"}`` for video frames of one large face each, where a
second detector adds time and no face.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ganon_utils.preprocess.pipeline import ImageTask, PreprocessConfig, tasks_from_folder, tasks_from_manifest

DATASET_KEYS = frozenset({"root", "adapter", "options", "settings"})


@dataclass(frozen=True)
class DatasetInput:
    """One named input of the stage."""

    name: str
    root: Path
    adapter: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)  # PreprocessConfig fields for this dataset only


def parse_dataset_inputs(datasets: Mapping[str, Mapping[str, Any]], only: Sequence[str] | None = None) -> list[DatasetInput]:
    """The profile's ``datasets`` mapping as :class:`DatasetInput` s, restricted to ``only`` when given."""
    unknown = sorted(set(only or ()) - set(datasets))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; the profile defines {sorted(datasets)}")
    inputs = []
    for name, spec in datasets.items():
        if only and name not in only:
            continue
        extra = sorted(set(spec) - DATASET_KEYS)
        if "root" not in spec or extra:
            raise ValueError(
                f"dataset {name!r} needs a 'root' and may have 'adapter', 'options' and 'settings' (got {sorted(spec)})"
            )
        settings = dict(spec.get("settings") or {})
        unknown = sorted(set(settings) - SETTING_NAMES)
        if unknown:
            raise ValueError(f"dataset {name!r}: unknown settings {unknown}; choose from {sorted(SETTING_NAMES)}")
        options = dict(spec.get("options") or {})
        inputs.append(DatasetInput(name, Path(spec["root"]), spec.get("adapter"), options, settings))
    return inputs


SETTING_NAMES = frozenset(f.name for f in fields(PreprocessConfig))


def dataset_config(dataset: DatasetInput, config: PreprocessConfig) -> PreprocessConfig:
    """The stage's settings for ``dataset``: ``config`` with the dataset's own ``settings`` applied."""
    return replace(config, **dataset.settings) if dataset.settings else config


def input_problems(dataset: DatasetInput) -> list[str]:
    """What is missing for ``dataset`` (each problem names the expected path); empty when it is ready."""
    if dataset.adapter is None:
        return [] if dataset.root.is_dir() else [f"{dataset.name}: folder {dataset.root} does not exist"]
    from ganon_utils.datasets import check_dataset

    return [f"{dataset.name}: {problem}" for problem in check_dataset(dataset.adapter, dataset.root, **dataset.options)]


def tasks_for(dataset: DatasetInput) -> tuple[list[ImageTask], pd.DataFrame | None]:
    """The stage's tasks for ``dataset`` and, for an adapter, the dataset manifest they came from."""
    if dataset.adapter is None:
        return tasks_from_folder(dataset.root), None
    from ganon_utils.datasets import load_dataset

    table = load_dataset(dataset.adapter, dataset.root, **dataset.options)
    return tasks_from_manifest(table, dataset.root), table
