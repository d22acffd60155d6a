"""The seams between the stages: the types every stage's readers and writers share.

Each stage reads what the one before it wrote (stage 01's ``faces.csv`` and ``config.json``, stage 03's
``<method>/manifest.csv``, ...); the names they share live here so that a stage never defines its own copy.
"""

from __future__ import annotations

import os

PathLike = str | os.PathLike[str]
"""A path as the public functions take it: a ``str`` or anything ``os.fspath`` accepts."""
