"""Provenance: what every report records about the code, packages and machine behind it."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pytest

from ganon_utils import provenance

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_collect_provenance_records_profile_backends_and_versions() -> None:
    record = provenance.collect_provenance("demo", {"detector": "blazeface", "segmenter": "selfie"})
    assert record["profile"] == "demo"
    assert record["backends"] == {"detector": "blazeface", "segmenter": "selfie"}
    assert set(record["packages"]) == {"torch", "torchvision", "mediapipe", "opencv", "numpy", "pandas", "ganon_utils"}
    assert record["packages"]["numpy"] == metadata.version("numpy")
    assert record["packages"]["ganon_utils"] == metadata.version("ganon_utils")
    assert record["python"].count(".") == 2 and record["cpu"] and record["gpu"]
    when = datetime.fromisoformat(record["time_utc"])
    assert when.tzinfo is not None and abs((datetime.now(timezone.utc) - when).total_seconds()) < 60


def test_package_versions_reports_missing_packages() -> None:
    versions = provenance.package_versions({"numpy": ("numpy",), "ghost": ("no-such-distribution-xyz",)})
    assert versions == {"numpy": metadata.version("numpy"), "ghost": "not installed"}


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="not a git checkout")
def test_git_commit_matches_the_checkout() -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    dirty = bool(
        subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
    )
    assert provenance.git_commit(REPO_ROOT) == (head, dirty)


def test_git_commit_outside_a_repository(tmp_path: Path) -> None:
    assert provenance.git_commit(tmp_path) == ("unknown", False)


def _record(profile: str, dirty: bool = False) -> dict:
    return {
        "profile": profile,
        "backends": {"detector": "retinaface"},
        "packages": {"torch": "2.14.1", "numpy": "1.26.4"},
        "python": "3.11.7",
        "platform": "Linux-x86_64",
        "cpu": "Xeon (2 cores)",
        "gpu": "none",
        "git_commit": "abc123",
        "git_dirty": dirty,
        "time_utc": "2026-11-28T12:00:00+00:00",
    }


def test_markdown_for_demo_says_numbers_are_not_comparable() -> None:
    text = provenance.provenance_markdown(_record("demo"))
    assert "not comparable to the paper" in text and "offline substitute models" in text
    assert "`demo`" in text and "detector: `retinaface`" in text and "torch 2.14.1" in text and "python 3.11.7" in text


def test_markdown_for_paper_has_no_demo_notice_and_flags_dirty_code() -> None:
    text = provenance.provenance_markdown(_record("paper", dirty=True))
    assert "not comparable" not in text
    assert "`abc123 (with uncommitted changes)`" in text
    assert "not comparable" in provenance.provenance_markdown(_record("mine"), substitute_models=True)
