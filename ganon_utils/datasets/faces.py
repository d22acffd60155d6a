"""FACES (Ebner et al., 2010): 171 adults x 6 expressions x 2 picture sets = 2,052 images.

Layout: the image files as downloaded, in any folder below the root (the authors' own tools
read ``<root>/bilder/``); every file is named::

    <subject>_<age group>_<gender>_<emotion>_<picture set>.jpg      e.g. 004_o_m_a_a.jpg

with age group ``y``/``m``/``o`` (young, middle-aged, older), gender ``m``/``f``, emotion
``n h s f d a`` (neutral, happy, sad, fear, disgust, anger) and picture set ``a``/``b``.
Image files not named this way are skipped and listed in ``df.attrs["skipped"]``; a second
file for the same subject, emotion and picture set (e.g. a copy in another folder) is left out
and listed in ``df.attrs["duplicates"]``.

FACES has no official split: ``val_fraction`` of the *subjects* go to ``val`` (seeded, see
:mod:`.splits`), so no person is in both splits.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pandas as pd

from .layout import missing_root, require
from .manifest import build_manifest, list_images
from .splits import split_by_subject

NAME = "faces"
URL = "https://faces.mpdl.mpg.de/imeji/"

EMOTION_CODES: dict[str, str] = {
    "n": "neutral",
    "h": "happy",
    "s": "sad",
    "f": "fear",
    "d": "disgust",
    "a": "anger",
}
"""File-name emotion letter -> class name."""

EMOTIONS: tuple[str, ...] = tuple(EMOTION_CODES.values())
"""Class names in label_index order: neutral, happy, sad, fear, disgust, anger."""
CLASSES = EMOTIONS

AGE_GROUPS = {"y": "young", "m": "middle", "o": "older"}
GENDERS = {"m": "male", "f": "female"}

FILE_NAME = re.compile(
    r"^(?P<subject>\d+)_(?P<age>[ymo])_(?P<gender>[mf])_(?P<emotion>[nhsfda])_(?P<set>[ab])\.(?:jpe?g|png)$",
    re.IGNORECASE,
)


def parse_file_name(name: str) -> dict[str, str] | None:
    """Fields of a FACES file name (subject, age group, gender, label, picture set), or None."""
    match = FILE_NAME.match(name)
    if match is None:
        return None
    return {
        "subject": match["subject"],
        "age_group": AGE_GROUPS[match["age"].lower()],
        "gender": GENDERS[match["gender"].lower()],
        "label": EMOTION_CODES[match["emotion"].lower()],
        "picture_set": match["set"].lower(),
    }


def check(root: Path) -> list[str]:
    """Problems that stop :func:`load` (no root, or no FACES-named image below it), without raising."""
    root = Path(root)
    if (problem := missing_root(root)) is not None:
        return [problem]
    for path in root.rglob("*"):
        if path.is_file() and parse_file_name(path.name) is not None:
            return []
    return [f"no FACES images named like 004_o_m_a_a.jpg found below {root} (e.g. in {root / 'bilder'})"]


def load(root: Path, val_fraction: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """FACES manifest: one row per named image, 6 emotions, subject-wise seeded train/val split."""
    root = Path(root)
    require(check(root), NAME)
    rows, skipped, duplicates = [], [], []
    seen: set[tuple[str, str, str]] = set()
    for image_path in list_images(root, root):
        fields = parse_file_name(PurePosixPath(image_path).name)
        if fields is None:
            skipped.append(image_path)
            continue
        key = (fields["subject"], fields["label"], fields["picture_set"])
        if key in seen:
            duplicates.append(image_path)
            continue
        seen.add(key)
        rows.append({"image_path": image_path, **fields, "label_index": EMOTIONS.index(fields["label"])})
    columns = ["image_path", "label", "label_index", "subject", "age_group", "gender", "picture_set"]
    table = pd.DataFrame(rows, columns=columns)
    table.insert(1, "split", split_by_subject(table["subject"].tolist(), val_fraction, seed))
    attrs = {"skipped": skipped, "duplicates": duplicates, "val_fraction": val_fraction, "seed": seed}
    return build_manifest(table, NAME, attrs)
