"""Seeded train/val split rules for datasets that ship without an official split.

Membership is decided by ranking keys on a SHA-256 hash of ``"<seed>:<key>"``, not by a random
number generator: the result is the same on every platform and library version, does not depend
on the order the keys come in, and adding a subject to a dataset moves no other subject.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

SPLIT_RULES = ("hash", "pandas_sample")
"""How a subject-wise split picks its validation subjects: ``hash`` (:func:`select_validation`, this package's) or
``pandas_sample`` (:func:`sample_subjects`, the authors' CK+ split)."""


def _rank_key(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def n_validation(n_items: int, val_fraction: float) -> int:
    """How many of ``n_items`` go to validation: ``val_fraction * n`` rounded half up.

    At least one item goes to each side when there are two or more items and
    ``0 < val_fraction < 1``, so a tiny dataset never ends up with an empty split.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be within [0, 1], got {val_fraction}")
    n_val = math.floor(val_fraction * n_items + 0.5)
    if 0.0 < val_fraction < 1.0 and n_items >= 2:
        n_val = min(max(n_val, 1), n_items - 1)
    return n_val


def select_validation(keys: Iterable[str], val_fraction: float, seed: int) -> frozenset[str]:
    """The distinct keys chosen for validation: the ``n_validation`` lowest hash ranks."""
    unique = sorted(set(keys))
    n_val = n_validation(len(unique), val_fraction)
    ranked = sorted(unique, key=lambda key: (_rank_key(seed, key), key))
    return frozenset(ranked[:n_val])


def sample_subjects(subjects: Iterable[str], val_fraction: float, random_state: int) -> frozenset[str]:
    """The subjects ``DataFrame.sample(frac=val_fraction, random_state=random_state)`` draws from the distinct
    subjects in sorted order, as the authors' CK+ split does on ``df.groupby("subject_id").sum()`` (a groupby sorts
    its keys; the summed label columns do not change the draw). Depends on NumPy's legacy ``RandomState``, which
    NumPy keeps stable for this reason."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be within [0, 1], got {val_fraction}")
    distinct = pd.Series(0, index=pd.Index(sorted(set(subjects)), name="subject"))
    return frozenset(distinct.sample(frac=val_fraction, random_state=random_state).index)


def split_by_subject(
    subjects: Sequence[str],
    val_fraction: float = 0.2,
    seed: int = 0,
    rule: str = "hash",
    drawn_from: Iterable[str] | None = None,
) -> list[str]:
    """``"train"``/``"val"`` for each row so that no subject appears in both splits.

    ``val_fraction`` is the share of *subjects* (not images) sent to validation, as in the paper
    for CK+ ("20% of subjects to val"). ``rule`` picks them (:data:`SPLIT_RULES`; ``seed`` is the hash seed or the
    random state); ``drawn_from`` is the subject pool to draw from when it is larger than the rows' (the authors drew
    over every labelled subject, neutral ones included). Empty subject ids are not allowed: an unknown subject could
    hide the same person on both sides.
    """
    if any(not s for s in subjects):
        raise ValueError("split_by_subject needs a subject id on every row")
    if rule not in SPLIT_RULES:
        raise ValueError(f"split rule must be one of {', '.join(SPLIT_RULES)}, got {rule!r}")
    pool = list(subjects) if drawn_from is None else list(drawn_from)
    if rule == "hash":
        val_subjects = select_validation(pool, val_fraction, seed)
    else:
        val_subjects = sample_subjects(pool, val_fraction, seed)
    return ["val" if s in val_subjects else "train" for s in subjects]


def split_by_item(
    items: Sequence[str],
    val_fraction: float = 0.2,
    seed: int = 0,
    strata: Sequence[str] | None = None,
) -> list[str]:
    """``"train"``/``"val"`` per row, one row per distinct item (e.g. an image path).

    With ``strata`` (e.g. class labels) the fraction is applied within each stratum, so every
    class with two or more images appears on both sides.
    """
    if len(set(items)) != len(items):
        raise ValueError("split_by_item needs distinct items")
    groups: dict[str, list[str]] = {}
    for item, stratum in zip(items, strata if strata is not None else [""] * len(items), strict=True):
        groups.setdefault(stratum, []).append(item)
    val_items: set[str] = set()
    for members in groups.values():
        val_items |= select_validation(members, val_fraction, seed)
    return ["val" if item in val_items else "train" for item in items]


def subjects_per_split(subjects: Sequence[str], splits: Sequence[str]) -> Mapping[str, frozenset[str]]:
    """Distinct subject ids per split (used by checks and reports)."""
    out: dict[str, set[str]] = {}
    for subject, split in zip(subjects, splits, strict=True):
        out.setdefault(split, set()).add(subject)
    return {split: frozenset(ids) for split, ids in out.items()}
