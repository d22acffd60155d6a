"""The seams between the stages: the types every stage's readers and writers share.

Each stage reads what the one before it wrote (stage 01's ``faces.csv`` and ``config.json``, stage 03's
``<method>/manifest.csv``, ...); the names they share live here so that a stage never defines its own copy.
"""

from __future__ import annotations

import os
from pathlib import Path

PathLike = str | os.PathLike[str]
"""A path as the public functions take it: a ``str`` or anything ``os.fspath`` accepts."""


def display_path(path: PathLike, root: PathLike = ".") -> str:
    """``path`` relative to ``root`` (default: the working folder) when inside it, else absolute: how a path reads in
    messages and reports, without the machine's own folder names."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(resolved)


# --- status words: every stage's table has a "status" column; these are its values ------------------------

STATUS_OK = "ok"
"""The row's work was done (every stage)."""
STATUS_ERROR = "error"
"""An unexpected failure on this row; its message says what (stages 01 and 03)."""
STATUS_UNREADABLE = "unreadable"
"""The row's file could not be read (stage 03's external faces, the evaluations)."""

# stage 01, per image (manifest.csv); the reading statuses (not_an_image, too_large, ...) come from image_io
STATUS_NO_FACE = "no_face"
# stage 01, per face (faces.csv)
FACE_OK = STATUS_OK
FACE_NO_LANDMARKS = "no_landmarks"
FACE_TOO_SMALL = "too_small"

# stage 03, per face (<method>/manifest.csv)
STATUS_AVERAGE_FACE = "average_face"
"""No landmarks in stage 01: the face was synthesised from a black landmark image (the paper's average face)."""
STATUS_MISSING = "missing"
"""An external method's folder has no face for this id."""
STATUS_AMBIGUOUS = "ambiguous"
"""An external method's folder has several files for this id."""
STATUS_SKIPPED = "skipped"
"""Stage 01 wrote no face image for this id."""
STATUS_PENDING = "pending"
"""A face the manifest lists before it is made (what a killed run leaves for the faces it did not reach)."""
ANONYMIZED_STATUSES = frozenset({STATUS_OK, STATUS_AVERAGE_FACE})
"""Statuses of faces that have an anonymised image."""

# evaluations, per (face, method)
STATUS_NOT_ANONYMIZED = "not_anonymized"
"""The method wrote no face for this id (its stage-03 manifest says why)."""
