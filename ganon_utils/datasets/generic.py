"""Any other dataset, in one of two layouts.

Folder mode (``csv=None``)::

    <root>/<class>/**/*.jpg                       one folder per class
    <root>/{train,val,test}/<class>/**/*.jpg      or split folders first (optional)

With ``labels_from_folders=False`` every image below the root is an unlabelled row.

CSV mode (``csv="labels.csv"``, a path relative to the root or absolute): one row per image,
with a path column (relative to the root), optionally a class label column, 0/1 (or -1/1)
attribute columns, a split column (train/val/test, also ``validation``, ``0/1/2``), a subject
column and a photo column (the photo a file was derived from, e.g. a crop of another file; empty: the file
itself); all column names are parameters.

Labels are lower-cased. Class order (``label_index``) is ``classes`` when given, otherwise
alphabetical. Without split folders or a split column, ``val_fraction`` of the subjects (when a
subject column is given) or of each class's images go to ``val``, seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .layout import missing_file, missing_root, require
from .manifest import SPLITS, build_manifest, list_images
from .splits import split_by_item, split_by_subject

NAME = "generic"
PHOTO_COLUMN = "photo"  # manifest column: the photo a file derives from (see load's photo_column)
URL = ""
CLASSES: tuple[str, ...] = ()

SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train", "0": "train",
    "val": "val", "valid": "val", "validation": "val", "1": "val",
    "test": "test", "testing": "test", "2": "test",
}  # fmt: skip


def normalise_split(value: object) -> str:
    """``train``/``val``/``test`` for the usual spellings of a split name or code."""
    key = str(value).strip().lower()
    if key.endswith(".0"):
        key = key[:-2]
    if key not in SPLIT_ALIASES:
        raise ValueError(f"unknown split value {value!r}; use one of {sorted(SPLIT_ALIASES)}")
    return SPLIT_ALIASES[key]


def class_order(labels: Sequence[str], classes: Sequence[str] | None) -> list[str]:
    """The class list: ``classes`` (lower-cased) when given, else the sorted distinct labels."""
    present = sorted({label for label in labels if label})
    if classes is None:
        return present
    ordered = [c.strip().lower() for c in classes]
    unknown = sorted(set(present) - set(ordered))
    if unknown:
        raise ValueError(f"labels not in classes: {unknown}")
    return ordered


def _folder_rows(root: Path, labels_from_folders: bool) -> tuple[list[dict], list[str], bool]:
    split_dirs = [s for s in SPLITS if (root / s).is_dir()]
    rows, skipped = [], []
    for image_path in list_images(root, root):
        parts = PurePosixPath(image_path).parts
        split = parts[0] if split_dirs and parts[0] in split_dirs else ""
        rest = parts[1:] if split else parts
        if split_dirs and not split:
            skipped.append(image_path)  # outside the split folders
            continue
        label = ""
        if labels_from_folders:
            if len(rest) < 2:
                skipped.append(image_path)  # not inside a class folder
                continue
            label = rest[0].strip().lower()
        rows.append({"image_path": image_path, "split": split, "label": label, "subject": ""})
    return rows, skipped, bool(split_dirs)


def _relative_to_root(root: Path, value: str) -> str:
    text = str(value).strip().replace("\\", "/")
    path = Path(text)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise ValueError(f"image path {text!r} is outside the dataset root {root}") from None
    return PurePosixPath(text).as_posix()


def _attribute_values(table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce")
    distinct = set(values.dropna().unique().tolist())
    if values.isna().any() or not (distinct <= {0, 1} or distinct <= {-1, 1}):
        raise ValueError(f"attribute column {column!r} must hold 0/1 or -1/1 values")
    if -1 in distinct:
        values = (values + 1) // 2
    return values.to_numpy().astype(np.int8)


def _csv_rows(
    root: Path,
    csv_path: Path,
    path_column: str,
    label_column: str | None,
    split_column: str | None,
    subject_column: str | None,
    attribute_columns: Sequence[str],
    photo_column: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    wanted = [path_column, label_column, split_column, subject_column, photo_column, *attribute_columns]
    absent = [c for c in wanted if c is not None and c not in table.columns]
    if absent:
        raise ValueError(f"{csv_path}: missing column(s) {absent}; found {list(table.columns)}")
    out = pd.DataFrame({"image_path": [_relative_to_root(root, p) for p in table[path_column]]})
    out["split"] = [normalise_split(v) for v in table[split_column]] if split_column else ""
    out["label"] = table[label_column].str.strip().str.lower() if label_column else ""
    out["subject"] = table[subject_column].str.strip() if subject_column else ""
    if photo_column:
        derived = [_relative_to_root(root, p) if p.strip() else "" for p in table[photo_column]]
        out[PHOTO_COLUMN] = [d or own for d, own in zip(derived, out["image_path"])]
    for column in attribute_columns:
        out[column] = _attribute_values(table, column)
    on_disk = out["image_path"].map(lambda p: (root / p).is_file())
    missing = out.loc[~on_disk, "image_path"].tolist()
    return out.loc[on_disk].reset_index(drop=True), missing


def check(root: Path, csv: str | None = None) -> list[str]:
    """Problems that stop :func:`load` (missing root, CSV, or no image in folder mode)."""
    root = Path(root)
    if (problem := missing_root(root)) is not None:
        return [problem]
    if csv is not None:
        problem = missing_file(root, [csv], "label CSV")
        return [problem] if problem else []
    if not any(True for _ in list_images(root, root)):
        return [f"no images found below {root}"]
    return []


def load(
    root: Path,
    csv: str | None = None,
    path_column: str = "image_path",
    label_column: str | None = "label",
    split_column: str | None = None,
    subject_column: str | None = None,
    attribute_columns: Sequence[str] = (),
    photo_column: str | None = None,
    classes: Sequence[str] | None = None,
    labels_from_folders: bool = True,
    val_fraction: float = 0.2,
    seed: int = 0,
    dataset_name: str = NAME,
) -> pd.DataFrame:
    """Manifest of a folder-per-class tree or of a label CSV (see the module docstring).

    ``dataset_name`` fills the ``dataset`` column; ``photo_column`` (CSV mode) adds the column ``photo``: the
    path of the photo each file was derived from (its own path when empty), so that crops or copies of one photo
    are not taken for other photos of the person (notebook 04's re-identification attack). ``df.attrs``: ``classes`` (the class order),
    ``missing`` (CSV rows whose file is absent, left out), ``skipped`` (folder mode: images
    outside any class or split folder) and the split rule used.
    """
    root = Path(root)
    require(check(root, csv), dataset_name)
    attrs: dict = {}
    if csv is not None:
        table, missing = _csv_rows(
            root, root / csv, path_column, label_column, split_column, subject_column, attribute_columns, photo_column
        )
        attrs["missing"] = missing
        has_split = split_column is not None
    else:
        rows, skipped, has_split = _folder_rows(root, labels_from_folders)
        table = pd.DataFrame(rows, columns=["image_path", "split", "label", "subject"])
        attrs["skipped"] = skipped
    classes_found = class_order(table["label"].tolist(), classes)
    table["label_index"] = [classes_found.index(label) if label else -1 for label in table["label"]]
    if has_split:
        attrs["split_rule"] = "given"
    elif subject_column is not None:
        table["split"] = split_by_subject(table["subject"].tolist(), val_fraction, seed)
        attrs.update(split_rule="by_subject", val_fraction=val_fraction, seed=seed)
    else:
        table["split"] = split_by_item(table["image_path"].tolist(), val_fraction, seed, table["label"].tolist())
        attrs.update(split_rule="by_image", val_fraction=val_fraction, seed=seed)
    attrs["classes"] = classes_found
    return build_manifest(table, dataset_name, attrs)
