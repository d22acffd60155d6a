"""WIDER FACE (Yang et al., 2016): 32,203 images in 61 event classes, used for Table 1.

Layout (as unpacked from the official zips)::

    <root>/WIDER_train/images/<event>/<file>.jpg
    <root>/WIDER_val/images/<event>/<file>.jpg
    <root>/WIDER_test/images/<event>/<file>.jpg             (optional)
    <root>/wider_face_split/wider_face_train_bbx_gt.txt
    <root>/wider_face_split/wider_face_val_bbx_gt.txt
    <root>/wider_face_split/wider_face_test_filelist.txt    (optional, names only; not read)

A ``*_bbx_gt.txt`` file repeats: the image path relative to ``images/``; the face count; then
one line per face ``x1 y1 w h blur expression illumination invalid occlusion pose``. An image
with 0 faces is still followed by one all-zero face line, which is not a face.

Manifest: one row per image found on disk in ``WIDER_<split>/images``. ``n_faces_annotated``
is the annotated face count (-1 when the image is not in an annotation file, e.g. every test
image) and ``n_faces_valid`` the count with ``invalid == 0``. ``event`` is the event folder
(e.g. ``0--Parade``); ``label`` stays empty. Annotated images absent on disk are listed in
``df.attrs["missing"]``; images on disk without annotation in ``df.attrs["unannotated"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .layout import missing_dir, missing_file, missing_root, require
from .manifest import build_manifest, list_images

NAME = "wider_face"
URL = "http://shuoyang1213.me/WIDERFACE/"
CLASSES: tuple[str, ...] = ()

ANNOTATED_SPLITS = ("train", "val")
FACE_FIELDS = ("x1", "y1", "w", "h", "blur", "expression", "illumination", "invalid", "occlusion", "pose")


def image_dir(split: str) -> str:
    """``WIDER_<split>/images``: where a split's event folders live."""
    return f"WIDER_{split}/images"


def annotation_file(split: str) -> str:
    """The face annotation file of ``train`` or ``val``."""
    return f"wider_face_split/wider_face_{split}_bbx_gt.txt"


@dataclass(frozen=True)
class ImageFaces:
    """Face counts of one annotated image."""

    name: str
    n_faces: int
    n_valid: int


def parse_bbx_gt(text: str, source: str = "<text>") -> list[ImageFaces]:
    """Parse a ``wider_face_*_bbx_gt.txt`` file into per-image face counts.

    Handles the zero-face quirk: after a count of 0 the file carries one placeholder face line
    (all zeros); it is consumed but not counted.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    images: list[ImageFaces] = []
    i = 0
    while i < len(lines):
        name = lines[i]
        if i + 1 >= len(lines) or not lines[i + 1].isdigit():
            raise ValueError(f"{source}: expected a face count after {name!r}")
        n_faces = int(lines[i + 1])
        i += 2
        faces = lines[i : i + n_faces]
        if len(faces) != n_faces or any(not _is_face_line(face) for face in faces):
            raise ValueError(f"{source}: {name!r} declares {n_faces} faces but the face lines do not match")
        i += n_faces
        if n_faces == 0 and i < len(lines) and _is_face_line(lines[i]):
            i += 1  # the placeholder line of a zero-face image
        n_valid = sum(int(face.split()[FACE_FIELDS.index("invalid")]) == 0 for face in faces)
        images.append(ImageFaces(name, n_faces, n_valid))
    return images


def _is_face_line(line: str) -> bool:
    tokens = line.split()
    return len(tokens) == len(FACE_FIELDS) and all(t.lstrip("-").isdigit() for t in tokens)


def check(root: Path) -> list[str]:
    """Problems that stop :func:`load` (missing image folders or annotation files), without raising."""
    root = Path(root)
    if (problem := missing_root(root)) is not None:
        return [problem]
    problems = []
    for split in ANNOTATED_SPLITS:
        problems.append(missing_dir(root, [image_dir(split)], f"WIDER FACE {split} images"))
        problems.append(missing_file(root, [annotation_file(split)], f"WIDER FACE {split} annotations"))
    return [p for p in problems if p]


def _split_rows(root: Path, split: str) -> tuple[list[dict], list[str], list[str]]:
    prefix = image_dir(split)
    on_disk = list_images(root / prefix, root)
    counts: dict[str, ImageFaces] = {}
    if split in ANNOTATED_SPLITS:
        annotations = root / annotation_file(split)
        parsed = parse_bbx_gt(annotations.read_text(encoding="utf-8"), str(annotations))
        counts = {f"{prefix}/{image.name}": image for image in parsed}
    rows = []
    for path in on_disk:
        image = counts.get(path)
        rows.append(
            {
                "image_path": path,
                "split": split,
                "event": path[len(prefix) + 1 :].split("/")[0],
                "n_faces_annotated": image.n_faces if image else -1,
                "n_faces_valid": image.n_valid if image else -1,
            }
        )
    disk = set(on_disk)
    missing = sorted(p for p in counts if p not in disk)
    unannotated = sorted(p for p in on_disk if p not in counts) if split in ANNOTATED_SPLITS else []
    return rows, missing, unannotated


def load(root: Path, include_test: bool = True) -> pd.DataFrame:
    """WIDER FACE manifest: train and val (and test when ``WIDER_test/images`` exists)."""
    root = Path(root)
    require(check(root), NAME)
    splits = list(ANNOTATED_SPLITS)
    if include_test and (root / image_dir("test")).is_dir():
        splits.append("test")
    rows: list[dict] = []
    missing: list[str] = []
    unannotated: list[str] = []
    for split in splits:
        split_rows, split_missing, split_unannotated = _split_rows(root, split)
        rows += split_rows
        missing += split_missing
        unannotated += split_unannotated
    columns = ["image_path", "split", "event", "n_faces_annotated", "n_faces_valid"]
    table = pd.DataFrame(rows, columns=columns)
    table[["n_faces_annotated", "n_faces_valid"]] = table[["n_faces_annotated", "n_faces_valid"]].astype("int64")
    return build_manifest(table, NAME, {"missing": missing, "unannotated": unannotated})
