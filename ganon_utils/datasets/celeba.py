"""CelebA (Liu et al., 2015): 202,599 aligned celebrity faces with 40 binary attributes.

Used by the paper to train the pix2pix generator and for the trait-removal analysis.
Layout (files as distributed; both the flat and the Google Drive folder layout are accepted)::

    <root>/img_align_celeba/000001.jpg ...        (or Img/img_align_celeba/)
    <root>/list_eval_partition.txt                (or Eval/list_eval_partition.txt)
    <root>/list_attr_celeba.txt                   (or Anno/list_attr_celeba.txt)
    <root>/identity_CelebA.txt                    (optional; or Anno/identity_CelebA.txt)

``list_eval_partition.txt``: ``<file> <0|1|2>`` per line (0 train, 1 val, 2 test).
``list_attr_celeba.txt``: line 1 the image count, line 2 the 40 attribute names, then
``<file> <40 values in -1/1>`` separated by one or more spaces. Attributes become 0/1 columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .layout import existing, first_existing, missing_dir, missing_file, missing_root, require
from .manifest import build_manifest
from .splits import split_by_item

NAME = "celeba"
URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"

ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)  # fmt: skip
"""The 40 attribute names in the order of ``list_attr_celeba.txt``; the manifest's extra columns."""

CLASSES = ATTRIBUTES

PARTITION_SPLITS = {0: "train", 1: "val", 2: "test"}
"""``list_eval_partition.txt`` codes."""

IMAGE_DIRS = ("img_align_celeba", "Img/img_align_celeba", "img_align_celeba/img_align_celeba")
PARTITION_FILES = ("list_eval_partition.txt", "Eval/list_eval_partition.txt")
ATTRIBUTE_FILES = ("list_attr_celeba.txt", "Anno/list_attr_celeba.txt")
IDENTITY_FILES = ("identity_CelebA.txt", "Anno/identity_CelebA.txt")


def read_partition(path: Path) -> pd.DataFrame:
    """``list_eval_partition.txt`` as columns ``file`` and ``split`` (train/val/test)."""
    files, splits = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2 or not tokens[1].lstrip("-").isdigit() or int(tokens[1]) not in PARTITION_SPLITS:
            raise ValueError(f"{path}:{number}: expected '<file> <0|1|2>', got {line!r}")
        files.append(tokens[0])
        splits.append(PARTITION_SPLITS[int(tokens[1])])
    return pd.DataFrame({"file": files, "split": splits})


def read_attributes(path: Path) -> pd.DataFrame:
    """``list_attr_celeba.txt`` as a ``file`` column plus 40 attribute columns of 0/1 (int8).

    Checks the attribute names, the declared image count and that every value is -1 or 1.
    """
    with path.open(encoding="utf-8") as handle:
        declared = int(handle.readline().split()[0])
        names = handle.readline().split()
        first_row = handle.readline().split()
    if first_row and len(first_row) != len(names) + 1:
        raise ValueError(f"{path}:3: expected a file name and {len(names)} values per row")
    if tuple(names) != ATTRIBUTES:
        raise ValueError(f"{path}: line 2 must name the 40 CelebA attributes in the official order")
    try:
        table = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, names=["file", *names], dtype={"file": str})
    except pd.errors.ParserError as error:
        raise ValueError(f"{path}: expected a file name and {len(names)} values per row ({error})") from None
    if len(table) != declared:
        raise ValueError(f"{path}: header declares {declared} images but {len(table)} rows follow")
    values = table[list(names)]
    if values.isna().any().any() or not values.isin([-1, 1]).all().all():
        raise ValueError(f"{path}: attribute values must be -1 or 1 (40 per row)")
    attributes = ((values.to_numpy(dtype=np.int16) + 1) // 2).astype(np.int8)
    out = pd.DataFrame(attributes, columns=names)
    out.insert(0, "file", table["file"].to_numpy())
    return out


def read_identities(path: Path) -> pd.DataFrame:
    """``identity_CelebA.txt`` (``<file> <identity>``) as columns ``file`` and ``subject``."""
    pairs = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"{path}: expected '<file> <identity>' on every line")
    return pd.DataFrame(pairs, columns=["file", "subject"])


def check(root: Path) -> list[str]:
    """Problems that stop :func:`load` (missing folder or annotation files), without raising."""
    root = Path(root)
    if (problem := missing_root(root)) is not None:
        return [problem]
    problems = [
        missing_dir(root, IMAGE_DIRS, "CelebA aligned images"),
        missing_file(root, PARTITION_FILES, "CelebA split file"),
        missing_file(root, ATTRIBUTE_FILES, "CelebA attribute file"),
    ]
    return [p for p in problems if p]


def _image_dir(root: Path, first_file: str | None) -> Path:
    present = [root / d for d in IMAGE_DIRS if (root / d).is_dir()]
    for folder in present:
        if first_file is not None and (folder / first_file).is_file():
            return folder
    return present[0]


def load(root: Path, split_rule: str = "official", val_fraction: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """CelebA manifest: one row per image of the split file, 40 attribute columns (0/1).

    ``split_rule="official"`` uses ``list_eval_partition.txt``; ``"random"`` instead sends a
    seeded ``val_fraction`` of all images to ``val`` (no test) - the paper's CelebA counts
    (166,223 train / 20,259 val) do not fit the official partition and look like such a split
    (see data/README.md). ``subject`` is the identity from ``identity_CelebA.txt`` when present.
    Images listed but absent on disk are dropped and listed in ``df.attrs["missing"]``.
    """
    root = Path(root)
    require(check(root), NAME)
    if split_rule not in ("official", "random"):
        raise ValueError(f"split_rule must be 'official' or 'random', got {split_rule!r}")
    partition = read_partition(existing(root, PARTITION_FILES, "file"))
    attributes = read_attributes(existing(root, ATTRIBUTE_FILES, "file"))
    table = partition.merge(attributes, on="file", how="left", validate="one_to_one", indicator=True)
    unattributed = table.loc[table["_merge"] == "left_only", "file"].tolist()
    if unattributed:
        raise ValueError(f"{NAME}: {len(unattributed)} images have no attributes, e.g. {unattributed[:3]}")
    table = table.drop(columns="_merge")
    identity_file = first_existing(root, IDENTITY_FILES, "file")
    if identity_file is not None:
        table = table.merge(read_identities(identity_file), on="file", how="left")
    image_dir = _image_dir(root, table["file"].iloc[0] if len(table) else None)
    on_disk = {entry.name for entry in image_dir.iterdir()}
    present = table["file"].isin(on_disk)
    prefix = image_dir.relative_to(root).as_posix()
    missing = [f"{prefix}/{f}" for f in table.loc[~present, "file"]]
    table = table.loc[present].reset_index(drop=True)
    table["image_path"] = prefix + "/" + table["file"].astype(str)
    if split_rule == "random":
        table["split"] = split_by_item(table["image_path"].tolist(), val_fraction, seed)
    columns = ["image_path", "split"] + (["subject"] if "subject" in table else []) + list(attributes.columns[1:])
    attrs: dict[str, object] = {"missing": missing, "split_rule": split_rule}
    if split_rule == "random":
        attrs.update(val_fraction=val_fraction, seed=seed)
    return build_manifest(table[columns], NAME, attrs)
