"""AffectNet (Mollahosseini et al., 2017): in-the-wild faces with 8 emotion classes.

Two distributions exist; both are read in place (``layout="auto"`` prefers the CSV one).

1. ``csv`` (original release)::

       <root>/Manually_Annotated_Images/<subDirectory_filePath>      (or Manually_Annotated/...)
       <root>/Manually_Annotated_file_lists/training.csv             -> split "train"
       <root>/Manually_Annotated_file_lists/validation.csv           -> split "val"

   Columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks,
   expression, valence, arousal (a header row is optional; copies without one are read by
   position).

2. ``npy`` (later release)::

       <root>/train_set/images/<n>.jpg   <root>/train_set/annotations/<n>_exp.npy   -> "train"
       <root>/val_set/images/<n>.jpg     <root>/val_set/annotations/<n>_exp.npy     -> "val"

   (plus ``_val.npy``, ``_aro.npy``, ``_lnd.npy``, not read). ``<n>_exp.npy`` holds the code as
   a string or a number.

Codes 0-7 are the emotions in :data:`EMOTIONS` (``label_index`` equals the code). Codes 8-10
(none, uncertain, no face) are not emotions: such images are left out and counted per reason in
``df.attrs["excluded"]``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from .layout import describe_candidates, existing, missing_dir, missing_file, missing_root, require
from .manifest import build_manifest, is_image_file, list_files

NAME = "affectnet"
URL = "http://mohammadmahoor.com/affectnet/"

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
"""Class names in AffectNet code order: ``EMOTIONS[code]`` for codes 0-7."""
CLASSES = EMOTIONS

EXCLUDED_CODES: dict[int, str] = {8: "none", 9: "uncertain", 10: "no_face"}
"""Annotation codes that are not emotions and are left out of the manifest."""

CSV_COLUMNS = (
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
    "facial_landmarks", "expression", "valence", "arousal",
)  # fmt: skip
CSV_LISTS = {
    "train": "Manually_Annotated_file_lists/training.csv",
    "val": "Manually_Annotated_file_lists/validation.csv",
}
CSV_IMAGE_DIRS = (
    "Manually_Annotated_Images",
    "Manually_Annotated/Manually_Annotated_Images",
    "Manually_Annotated_compressed/Manually_Annotated_Images",
)
NPY_SETS = {"train": "train_set", "val": "val_set"}
LAYOUTS = ("auto", "csv", "npy")


def code_to_label(code: int) -> str | None:
    """The emotion name of an AffectNet code, or None for the excluded codes 8-10."""
    if 0 <= code < len(EMOTIONS):
        return EMOTIONS[code]
    if code in EXCLUDED_CODES:
        return None
    raise ValueError(f"AffectNet expression codes are 0-10, got {code}")


def _csv_present(root: Path) -> bool:
    return all((root / path).is_file() for path in CSV_LISTS.values())


def _npy_present(root: Path) -> bool:
    return all((root / folder / "annotations").is_dir() for folder in NPY_SETS.values())


def detect_layout(root: Path) -> str | None:
    """``"csv"`` or ``"npy"`` by which distribution's annotation files are present, else None."""
    if _csv_present(root):
        return "csv"
    if _npy_present(root):
        return "npy"
    return None


def check(root: Path, layout: str = "auto") -> list[str]:
    """Problems that stop :func:`load`, without raising; names both layouts when neither is found."""
    root = Path(root)
    if (problem := missing_root(root)) is not None:
        return [problem]
    if layout not in LAYOUTS:
        return [f"unknown AffectNet layout {layout!r}; choose from {LAYOUTS}"]
    if layout == "auto":
        layout = detect_layout(root) or "auto"
    csv_problems = [missing_file(root, [p], f"AffectNet {s} list") for s, p in CSV_LISTS.items()]
    csv_problems.append(missing_dir(root, CSV_IMAGE_DIRS, "AffectNet images"))
    npy_problems = []
    for split, folder in NPY_SETS.items():
        npy_problems.append(missing_dir(root, [f"{folder}/images"], f"AffectNet {split} images"))
        npy_problems.append(missing_dir(root, [f"{folder}/annotations"], f"AffectNet {split} annotations"))
    if layout == "csv":
        return [p for p in csv_problems if p]
    if layout == "npy":
        return [p for p in npy_problems if p]
    return [
        "no AffectNet annotations found; expected either "
        f"{describe_candidates(root, list(CSV_LISTS.values()))} with images in "
        f"{describe_candidates(root, CSV_IMAGE_DIRS)}, or "
        f"{root / 'train_set'}/{{images,annotations}} and {root / 'val_set'}/{{images,annotations}}"
    ]


def read_file_list(path: Path) -> pd.DataFrame:
    """A ``training.csv``/``validation.csv`` as columns ``file`` and ``code`` (int).

    The header row is optional (some copies start with ``#subDirectory_filePath``, some have no
    header); without one the columns are taken by position (:data:`CSV_COLUMNS`).
    """
    with path.open(newline="", encoding="utf-8") as handle:
        first = next(csv.reader(handle), [])
    has_header = bool(first) and first[0].strip().lstrip("#").strip().lower() == "subdirectory_filepath"
    columns = [c.strip().lstrip("#").strip().lower() for c in first] if has_header else [c.lower() for c in CSV_COLUMNS]
    path_at, code_at = columns.index("subdirectory_filepath"), columns.index("expression")
    table = pd.read_csv(path, header=None, skiprows=1 if has_header else 0, usecols=[path_at, code_at], dtype={path_at: str})
    codes = pd.to_numeric(table[code_at], errors="coerce")
    if codes.isna().any() or (codes != codes.round()).any():
        row = int(np.flatnonzero(codes.isna() | (codes != codes.round()))[0]) + 1 + int(has_header)
        raise ValueError(f"{path}:{row}: expression is not an integer code")
    return pd.DataFrame({"file": table[path_at].str.strip(), "code": codes.astype(np.int64)})


def read_exp_code(path: Path) -> int:
    """The expression code stored in an ``<n>_exp.npy`` file (a string or a number)."""
    value = np.load(path, allow_pickle=False)
    return int(float(str(np.asarray(value).reshape(-1)[0]).strip()))


def _labelled_rows(paths: list[str], codes: list[int], split: str) -> tuple[list[dict], dict[str, int]]:
    rows, excluded = [], dict.fromkeys(EXCLUDED_CODES.values(), 0)
    for path, code in zip(paths, codes, strict=True):
        label = code_to_label(code)
        if label is None:
            excluded[EXCLUDED_CODES[code]] += 1
            continue
        rows.append({"image_path": path, "split": split, "label": label, "label_index": code})
    return rows, excluded


def _load_csv(root: Path) -> tuple[list[dict], dict[str, int], list[str], list[str]]:
    image_dir = existing(root, CSV_IMAGE_DIRS, "dir")
    prefix = image_dir.relative_to(root).as_posix()
    on_disk = set(list_files(image_dir, root))
    rows, excluded, missing = [], dict.fromkeys(EXCLUDED_CODES.values(), 0), []
    seen: set[str] = set()
    duplicates: list[str] = []
    for split, list_path in CSV_LISTS.items():
        table = read_file_list(root / list_path)
        paths = [f"{prefix}/{f.replace(chr(92), '/')}" for f in table["file"]]
        split_rows, split_excluded = _labelled_rows(paths, table["code"].tolist(), split)
        for reason, count in split_excluded.items():
            excluded[reason] += count
        for row in split_rows:
            if row["image_path"] not in on_disk:
                missing.append(row["image_path"])
            elif row["image_path"] in seen:
                duplicates.append(row["image_path"])
            else:
                seen.add(row["image_path"])
                rows.append(row)
    return rows, excluded, missing, duplicates


def _load_npy(root: Path) -> tuple[list[dict], dict[str, int], list[str], list[str]]:
    rows, excluded, missing, unannotated = [], dict.fromkeys(EXCLUDED_CODES.values(), 0), [], []
    for split, folder in NPY_SETS.items():
        images = {Path(p).stem: p for p in list_files(root / folder / "images", root) if is_image_file(p)}
        exp_files = [p for p in list_files(root / folder / "annotations", root) if p.endswith("_exp.npy")]
        stems = {Path(p).name[: -len("_exp.npy")]: p for p in exp_files}
        paths, codes = [], []
        for stem, exp_path in sorted(stems.items()):
            if stem not in images:
                missing.append(f"{folder}/images/{stem}.jpg")
                continue
            paths.append(images[stem])
            codes.append(read_exp_code(root / exp_path))
        unannotated += sorted(path for stem, path in images.items() if stem not in stems)
        split_rows, split_excluded = _labelled_rows(paths, codes, split)
        for reason, count in split_excluded.items():
            excluded[reason] += count
        rows += split_rows
    return rows, excluded, missing, unannotated


def load(root: Path, layout: str = "auto") -> pd.DataFrame:
    """AffectNet manifest with the 8 emotions; codes 8-10 counted in ``df.attrs["excluded"]``.

    ``df.attrs`` also holds ``layout`` (the distribution read), ``missing`` (annotated images
    absent on disk, left out), and ``duplicates`` (csv: repeated list entries, first kept) or
    ``unannotated`` (npy: images without ``_exp.npy``, left out).
    """
    root = Path(root)
    require(check(root, layout), NAME)
    chosen = detect_layout(root) if layout == "auto" else layout
    table = pd.DataFrame(columns=["image_path", "split", "label", "label_index"])
    attrs: dict = {"layout": chosen}
    if chosen == "csv":
        rows, excluded, missing, duplicates = _load_csv(root)
        attrs.update(excluded=excluded, missing=missing, duplicates=duplicates)
    else:
        rows, excluded, missing, unannotated = _load_npy(root)
        attrs.update(excluded=excluded, missing=missing, unannotated=unannotated)
    if rows:
        table = pd.DataFrame(rows, columns=table.columns)
    return build_manifest(table, NAME, attrs)
