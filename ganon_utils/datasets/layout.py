"""Finding a dataset's files in the layout it was unpacked in, and naming what is missing.

Datasets are unpacked in slightly different ways (CelebA's Google Drive folders ``Img/``,
``Anno/``, ``Eval/`` versus the flat layout torchvision uses); each adapter lists the accepted
places for a file, most common first, and these functions pick the one present.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def first_existing(root: Path, candidates: Sequence[str], kind: str = "any") -> Path | None:
    """The first ``root / candidate`` that exists (``kind``: ``"file"``, ``"dir"`` or ``"any"``)."""
    for candidate in candidates:
        path = root / candidate
        if (kind == "file" and path.is_file()) or (kind == "dir" and path.is_dir()) or (kind == "any" and path.exists()):
            return path
    return None


def existing(root: Path, candidates: Sequence[str], kind: str = "any") -> Path:
    """:func:`first_existing`, for a layout already checked: FileNotFoundError naming the places when none exists."""
    path = first_existing(root, candidates, kind)
    if path is None:
        raise FileNotFoundError(f"not found: {describe_candidates(root, candidates)}")
    return path


def describe_candidates(root: Path, candidates: Sequence[str]) -> str:
    """``"<root>/a"`` or ``"<root>/a (or <root>/b)"`` for problem messages."""
    first, *rest = [str(root / c) for c in candidates]
    return first if not rest else f"{first} (or {', '.join(rest)})"


def missing_file(root: Path, candidates: Sequence[str], what: str) -> str | None:
    """A problem line when none of ``candidates`` is a file below ``root``, else None."""
    if first_existing(root, candidates, "file") is None:
        return f"missing {what}: expected {describe_candidates(root, candidates)}"
    return None


def missing_dir(root: Path, candidates: Sequence[str], what: str) -> str | None:
    """A problem line when none of ``candidates`` is a non-empty folder below ``root``, else None."""
    folder = first_existing(root, candidates, "dir")
    if folder is None:
        return f"missing {what}: expected folder {describe_candidates(root, candidates)}"
    if not any(True for _ in folder.iterdir()):
        return f"empty {what}: folder {folder} has no files"
    return None


def missing_root(root: Path) -> str | None:
    """A problem line when the dataset root itself is absent."""
    if not root.is_dir():
        return f"dataset root not found: {root}"
    return None


def require(problems: Sequence[str], name: str) -> None:
    """Raise ``FileNotFoundError`` naming every problem, for adapters that cannot proceed."""
    if problems:
        raise FileNotFoundError(f"{name}: " + "; ".join(problems))
