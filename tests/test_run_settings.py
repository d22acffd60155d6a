"""The one comparison of run settings behind every stage's "made with other settings" refusal."""

from __future__ import annotations

from ganon_utils.run_settings import setting_changes


def test_changes_name_each_setting_with_both_values() -> None:
    saved = {"config": {"lr": 3e-4, "size": [256, 256], "seed": 0}, "faces": 10, "gone": True}
    current = {"config": {"lr": 1e-3, "size": (256, 256), "seed": 0}, "faces": 10, "new": "x"}
    assert setting_changes(saved, current) == [
        "config.lr: 0.0003 -> 0.001",
        "gone: True -> '(not set)'",
        "new: '(not set)' -> 'x'",
    ]
    assert setting_changes(current, current) == []


def test_long_lists_are_reported_without_their_values() -> None:
    assert setting_changes({"classes": list("abcdef")}, {"classes": list("abcdeg")}) == ["classes changed"]
    assert setting_changes({"pair": [1, 2]}, {"pair": [1, 3]}) == ["pair: [1, 2] -> [1, 3]"]
