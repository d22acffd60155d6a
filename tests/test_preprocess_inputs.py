"""Named inputs of the preprocessing stage: folders or datasets in their own layouts."""

from __future__ import annotations

import shutil

import pytest

from ganon_utils.preprocess import PreprocessConfig
from ganon_utils.preprocess.inputs import dataset_config, input_problems, parse_dataset_inputs, tasks_for
from tests.dataset_fixtures import make_ckplus

SPEC = {"plain": {"root": "x"}, "ck": {"root": "y", "adapter": "ckplus", "options": {"seed": 1}}}


def test_parse_keeps_order_and_restricts_to_a_subset() -> None:
    assert [d.name for d in parse_dataset_inputs(SPEC)] == ["plain", "ck"]
    (ck,) = parse_dataset_inputs(SPEC, only=["ck"])
    assert (ck.adapter, dict(ck.options), str(ck.root)) == ("ckplus", {"seed": 1}, "y")


@pytest.mark.parametrize(("spec", "only", "message"), [
    (SPEC, ["nope"], "unknown dataset"),
    ({"a": {"adapter": "ckplus"}}, None, "needs a 'root'"),
    ({"a": {"root": "x", "labels": 1}}, None, "needs a 'root'"),
    ({"a": {"root": "x", "settings": {"detectr": "yunet"}}}, None, "unknown settings \\['detectr'\\]"),
])  # fmt: skip
def test_parse_rejects_bad_specs(spec, only, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dataset_inputs(spec, only)


def test_dataset_settings_override_the_stage_settings_for_that_dataset_only() -> None:
    spec = {"photos": {"root": "x"}, "frames": {"root": "y", "settings": {"detector": "yunet", "face_margin": 0.1}}}
    photos, frames = parse_dataset_inputs(spec)
    config = PreprocessConfig(detector="yunet+centerface", image_size=256)
    assert dataset_config(photos, config) == config
    assert dataset_config(frames, config) == PreprocessConfig(detector="yunet", image_size=256, face_margin=0.1)
    with pytest.raises(ValueError, match="alignment"):  # the overridden settings are checked like the stage's own
        dataset_config(parse_dataset_inputs({"z": {"root": "z", "settings": {"alignment": "sideways"}}})[0], config)


def test_problems_name_missing_paths_and_tasks_carry_splits(tmp_path) -> None:
    root = tmp_path / "ckplus"
    make_ckplus(root)
    (folder,) = parse_dataset_inputs({"f": {"root": str(tmp_path / "absent")}})
    assert input_problems(folder) == [f"f: folder {tmp_path / 'absent'} does not exist"]
    (ck,) = parse_dataset_inputs({"ck": {"root": str(root), "adapter": "ckplus"}})
    assert input_problems(ck) == []
    tasks, table = tasks_for(ck)
    assert len(tasks) == len(table) > 0
    assert {t.split for t in tasks} == set(table["split"]) == {"train", "val"}
    shutil.rmtree(root / "Emotion")
    problems = input_problems(ck)
    assert problems and all(p.startswith("ck: ") for p in problems) and any("Emotion" in p for p in problems)
