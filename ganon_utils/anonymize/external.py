"""External anonymisation methods (DeepPrivacy2, CIAGAN, ...): folders of faces made by other code.

Those methods are separate research code bases with their own weights; they are run elsewhere on the
stage-01 faces and their outputs are registered here by name. A folder holds one image per face, named
by the stage-01 face id (``<face_id>.png`` or any other usual image suffix), directly or in any
sub-folder (e.g. ``<split>/<face_id>.png``, the layout this package writes).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from ganon_utils.anonymize.methods import builtin_method
from ganon_utils.anonymize.synthesis import GANONYMIZATION
from ganon_utils.image_io import list_images
from ganon_utils.stages import PathLike

_METHOD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

EXTERNAL_METHODS: dict[str, Path] = {}
"""Registered external methods: name -> folder of anonymised faces."""


def check_method_name(name: str) -> str:
    """Raise ValueError unless ``name`` can be a folder name (letters, digits, ``_ . -``)."""
    if not _METHOD_NAME.fullmatch(name) or name.startswith("_"):
        raise ValueError(f"method name {name!r} must consist of letters, digits, '_', '.', '-' (no leading '_' or '.')")
    return name


def register_external(name: str, folder: PathLike) -> Path:
    """Register ``folder`` (faces named by face id) as the anonymisation method ``name``; returns the folder.

    Re-registering a name replaces its folder. Built-in names (``ganonymization``, ``pixel8``, ...) are refused.
    """
    check_method_name(name)
    if name == GANONYMIZATION or builtin_method(name) is not None:
        raise ValueError(f"{name!r} is a built-in method; give the external method another name")
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"folder of {name} faces not found: {folder}")
    EXTERNAL_METHODS[name] = folder
    return folder


def index_external_faces(folder: PathLike) -> dict[str, list[Path]]:
    """Image files under ``folder`` (recursive) grouped by file stem (the face id)."""
    found: dict[str, list[Path]] = defaultdict(list)
    for path in list_images(folder):
        found[Path(path).stem].append(Path(path))
    return dict(found)


def find_external_face(index: dict[str, list[Path]], face_id: str, split: str) -> tuple[Path | None, str, str]:
    """(file, status, message) for one face: ``ok``, ``missing`` or ``ambiguous`` (several files, none in ``split/``)."""
    candidates = index.get(face_id, [])
    if not candidates:
        return None, "missing", "no file named after this face id"
    if len(candidates) == 1:
        return candidates[0], "ok", ""
    in_split = [path for path in candidates if path.parent.name == split]
    if len(in_split) == 1:
        return in_split[0], "ok", ""
    return None, "ambiguous", "several files named after this face id: " + ", ".join(str(p) for p in candidates[:5])
