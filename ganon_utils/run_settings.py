"""Comparing the settings a folder was made with against the settings of a new call.

Every stage writes the settings of its run into its output folder (``config.json``) and refuses to
continue a folder made with other settings, so that outputs of two configurations never mix. This
module says which settings differ, with both values, for the stages' error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_SET = "(not set)"


def _plain(value: Any) -> Any:
    """Tuples compare equal to lists (JSON turns a tuple into a list)."""
    return list(value) if isinstance(value, tuple) else value


def setting_changes(saved: Mapping[str, Any], current: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``"name: saved -> current"`` for every setting that differs, in name order.

    Nested mappings are compared key by key (``"config.lr: 0.0003 -> 0.001"``); long lists are reported
    as changed without their values. A key present on one side only shows as ``(not set)`` on the other.
    """
    changes = []
    for key in sorted(set(saved) | set(current), key=str):
        old, new = saved.get(key, NOT_SET), current.get(key, NOT_SET)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changes += setting_changes(old, new, f"{prefix}{key}.")
        elif _plain(old) != _plain(new):
            long = any(isinstance(v, (list, tuple)) and len(v) > 4 for v in (old, new))
            changes.append(f"{prefix}{key} changed" if long else f"{prefix}{key}: {old!r} -> {new!r}")
    return changes
