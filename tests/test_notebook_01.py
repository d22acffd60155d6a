"""Notebook 01 executed by the real runner (papermill) on the demo profile, as ./run_all.sh does."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ganon_utils import notebooks
from tests.conftest import REPO_ROOT, assert_clean_report

pytestmark = pytest.mark.slow


def demo_profile_into(tmp_path: Path, demo_dir: Path) -> Path:
    """The demo profile with its stage outputs redirected into ``tmp_path`` and its training population cut to 12
    of its 1,020 frames (a copy of training.csv), so the test takes seconds, not minutes."""
    data = yaml.safe_load((REPO_ROOT / "profiles" / "demo.yaml").read_text())
    data["notebooks"]["01_preprocess"]["output_root"] = str(tmp_path / "processed")
    training = pd.read_csv(demo_dir / "training.csv", keep_default_na=False)
    training.iloc[::85].to_csv(tmp_path / "training.csv", index=False)
    data["notebooks"]["01_preprocess"]["datasets"]["demo_training"]["options"]["csv"] = str(tmp_path / "training.csv")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_01_runs_on_the_demo_profile(tmp_path, demo_dir) -> None:
    results = tmp_path / "results"
    code = notebooks.cli(["--profile", str(demo_profile_into(tmp_path, demo_dir)), "--only", "01", "--results-dir", str(results)])
    assert code == 0
    report = (results / "01_preprocess.html").read_text()
    assert "yunet+centerface" in report and "not comparable to the paper" in report  # backends and demo notice
    assert "detector (demo_training)" in report  # a dataset's own settings are reported
    assert_clean_report(report)
    assert (results / "_static" / "mathjax" / "MathJax.js").is_file()
    assert report.count("data:image/png;base64") >= 2  # figures embedded
    index = html.unescape((results / "index.html").read_text())
    for linked in ("01_preprocess.html", "fig2_preprocessing_steps.png", "image_status_counts.csv"):
        assert linked in index
    assert "input files," in index and "<caption>Inputs per status</caption>" in index  # the stage's headline
    evaluation = pd.read_csv(demo_dir / "evaluation.csv", keep_default_na=False)
    manifest = pd.read_csv(tmp_path / "processed" / "demo" / "manifest.csv")
    assert sorted(manifest["source"]) == sorted(evaluation["image_path"])  # the evaluation people only
    assert (manifest["status"] == "ok").all()  # the default detector finds a face in every evaluation photo
    subjects = pd.read_csv(tmp_path / "processed" / "demo" / "dataset_manifest.csv", keep_default_na=False)
    assert set(subjects["subject"]) - {""} == set(evaluation["subject"]) - {""}
    training = pd.read_csv(tmp_path / "processed" / "demo_training" / "manifest.csv")
    assert len(training) == 12 and (training["status"] == "ok").all()
    assert not set(training["source"]) & set(manifest["source"])
    config = json.loads((tmp_path / "processed" / "demo_training" / "config.json").read_text())
    assert (config["detector"], config["image_size"]) == ("yunet", 256)  # the training frames' own settings
    counts = pd.read_csv(results / "01_preprocess" / "tables" / "image_status_counts.csv")
    assert counts["images"].sum() == len(manifest) + len(training)
