"""CK+ (Lucey et al., 2010): 593 posed sequences of 123 subjects, 327 with an emotion label.

Layout (as unpacked from ``extended-cohn-kanade-images.zip`` and ``Emotion_labels.zip``)::

    <root>/cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    <root>/Emotion/S005/001/S005_001_00000011_emotion.txt

An emotion file holds one float such as ``   3.0000000e+00`` and names the sequence's peak
frame. Codes 1-7 are the paper's 7 classes (:data:`EMOTIONS`, ``label_index = code - 1``);
code 0 (neutral) is not part of that setup and is counted in ``df.attrs["excluded"]``.

Only labelled peak frames become rows (327 for the full dataset). CK+ has no official split:
``val_fraction`` of the *subjects* go to ``val``, so no subject is in both splits. ``split="hash"`` (default) picks
them by a seeded hash (:mod:`.splits`); ``split="pandas_sample"`` as the authors' code did
(``df.groupby("subject_id").sum().sample(frac=0.2, random_state=42)`` over every subject with a label file, neutral
ones included; the paper profile, with ``seed=42``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .layout import missing_dir, missing_root, require
from .manifest import build_manifest, list_files
from .splits import split_by_subject

NAME = "ckplus"
URL = "https://www.jeffcohn.net/Resources/"

EMOTIONS: tuple[str, ...] = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
"""Class names in CK+ code order: ``EMOTIONS[code - 1]`` for codes 1-7."""
CLASSES = EMOTIONS

IMAGE_DIR = "cohn-kanade-images"
EMOTION_DIR = "Emotion"
_EMOTION_FILE = re.compile(r"^(?P<subject>S\d+)_(?P<sequence>\d+)_(?P<frame>\d+)_emotion\.txt$")


def code_to_label(code: int) -> str | None:
    """The class name of a CK+ emotion code; None for 0 (neutral, not used)."""
    if code == 0:
        return None
    if 1 <= code <= len(EMOTIONS):
        return EMOTIONS[code - 1]
    raise ValueError(f"CK+ emotion codes are 0-7, got {code}")


def read_emotion_code(path: Path) -> int:
    """The integer code in a CK+ ``*_emotion.txt`` file (stored as a float, e.g. ``3.0000000e+00``)."""
    text = path.read_text(encoding="utf-8").strip()
    value = float(text.split()[0]) if text else float("nan")
    if value != value or value != int(value):
        raise ValueError(f"{path}: expected an integral emotion code, got {text!r}")
    return int(value)


def check(root: Path) -> list[str]:
    """Problems that stop :func:`load` (missing image or label folder), without raising."""
    root = Path(root)
    if (problem := missing_root(root)) is not None:
        return [problem]
    problems = [
        missing_dir(root, [IMAGE_DIR], "CK+ image sequences"),
        missing_dir(root, [EMOTION_DIR], "CK+ emotion labels (Emotion_labels.zip)"),
    ]
    return [p for p in problems if p]


def load(root: Path, val_fraction: float = 0.2, seed: int = 0, split: str = "hash") -> pd.DataFrame:
    """CK+ manifest: one row per labelled peak frame, subject-wise seeded train/val split (``split``: the rule, see
    the module docstring).

    ``df.attrs``: ``excluded`` (``{"neutral": n}``), ``missing`` (label files whose frame image
    is absent), ``unrecognised`` (files in ``Emotion/`` not named like a label file).
    """
    root = Path(root)
    require(check(root), NAME)
    rows, missing, unrecognised, n_neutral, labelled_subjects = [], [], [], 0, []
    for label_path in list_files(root / EMOTION_DIR, root):
        match = _EMOTION_FILE.match(Path(label_path).name)
        if match is None:
            unrecognised.append(label_path)
            continue
        label = code_to_label(read_emotion_code(root / label_path))
        sequence_dir = Path(label_path).parent.relative_to(EMOTION_DIR).as_posix()
        frame = Path(label_path).name[: -len("_emotion.txt")] + ".png"
        image_path = f"{IMAGE_DIR}/{sequence_dir}/{frame}"
        if not (root / image_path).is_file():
            missing.append(image_path)
            continue
        labelled_subjects.append(match["subject"])
        if label is None:
            n_neutral += 1
            continue
        rows.append(
            {
                "image_path": image_path,
                "label": label,
                "label_index": EMOTIONS.index(label),
                "subject": match["subject"],
                "sequence": match["sequence"],
            }
        )
    table = pd.DataFrame(rows, columns=["image_path", "label", "label_index", "subject", "sequence"])
    splits = split_by_subject(table["subject"].tolist(), val_fraction, seed, rule=split, drawn_from=labelled_subjects)
    table.insert(1, "split", splits)
    attrs = {
        "excluded": {"neutral": n_neutral},
        "missing": missing,
        "unrecognised": unrecognised,
        "val_fraction": val_fraction,
        "seed": seed,
        "split_rule": split,
    }
    return build_manifest(table, NAME, attrs)
