"""Evaluations of the anonymised faces (paper section 4).

- :mod:`~ganon_utils.evaluation.identity`: face-recognition embeddings and the cosine distance.
- :mod:`~ganon_utils.evaluation.anonymity`: identity distance original vs anonymised (Table 1).
- :mod:`~ganon_utils.evaluation.figures`: their figures.
"""

from __future__ import annotations

from ganon_utils.evaluation.anonymity import (
    ORIGINAL,
    PAPER_TABLE1,
    REIDENTIFICATION_THRESHOLD,
    identity_distances,
    summarize_identity,
)
from ganon_utils.evaluation.identity import RECOGNIZERS, build_embedder, cosine_distance

__all__ = [
    "ORIGINAL", "PAPER_TABLE1", "RECOGNIZERS", "REIDENTIFICATION_THRESHOLD", "build_embedder", "cosine_distance",
    "identity_distances", "summarize_identity",
]  # fmt: skip
