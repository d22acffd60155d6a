"""Notebook 01 executed by the real runner (papermill) on the demo profile, as ./run_all.sh does."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ganon_utils import notebooks
from tests.conftest import REPO_ROOT, assert_clean_report

pytestmark = pytest.mark.slow


def demo_profile_into(tmp_path: Path) -> Path:
    """The demo profile with its stage outputs redirected into ``tmp_path``."""
    data = yaml.safe_load((REPO_ROOT / "profiles" / "demo.yaml").read_text())
    data["notebooks"]["01_preprocess"]["output_root"] = str(tmp_path / "processed")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_01_runs_on_the_demo_profile(tmp_path, demo_dir) -> None:
    results = tmp_path / "results"
    code = notebooks.cli(["--profile", str(demo_profile_into(tmp_path)), "--only", "01", "--results-dir", str(results)])
    assert code == 0
    report = (results / "01_preprocess.html").read_text()
    assert "yunet+centerface" in report and "not comparable to the paper" in report  # backends and demo notice
    assert_clean_report(report)
    assert (results / "_static" / "mathjax" / "MathJax.js").is_file()
    assert report.count("data:image/png;base64") >= 2  # figures embedded
    index = html.unescape((results / "index.html").read_text())
    for linked in ("01_preprocess.html", "fig2_preprocessing_steps.png", "image_status_counts.csv"):
        assert linked in index
    assert "input files," in index and "<caption>Inputs per status</caption>" in index  # the stage's headline
    manifest = pd.read_csv(tmp_path / "processed" / "demo" / "manifest.csv")
    n_files = sum(1 for p in demo_dir.rglob("*") if p.is_file())  # every file gets a row (README.md, SOURCES.csv too)
    n_images = sum(1 for p in demo_dir.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    assert len(manifest) == n_files
    assert (manifest["status"] == "ok").sum() == n_images  # the default detector finds a face in every demo photo
    assert set(manifest.loc[manifest["status"] != "ok", "status"]) == {"not_an_image"}
    counts = pd.read_csv(results / "01_preprocess" / "tables" / "image_status_counts.csv")
    assert counts["images"].sum() == n_files
