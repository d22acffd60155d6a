"""A run first lists everything it needs that is missing, and starts nothing."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from ganon_utils import notebooks
from ganon_utils.notebooks import list_notebooks, plan_run
from ganon_utils.profiles import load_profile
from ganon_utils.readiness import run_problems
from ganon_utils.weights import weight_path
from tests.conftest import REPO_ROOT
from tests.dataset_fixtures import make_affectnet_csv, make_celeba, make_ckplus, make_faces, make_wider

PAPER_DATASETS = ("celeba", "wider_face", "affectnet", "ckplus", "faces")


def test_paper_profile_without_data_stops_at_once_with_one_list(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path / "weights"))
    results = tmp_path / "results"
    start = time.perf_counter()
    code = notebooks.cli(["--profile", "paper", "--results-dir", str(results)])
    assert time.perf_counter() - start < 10
    assert code == 2
    err = capsys.readouterr().err
    for name in PAPER_DATASETS:
        assert f"{name}: " in err
    assert str(weight_path("retinaface")) in err and str(weight_path("head_segmentation")) in err
    assert not results.exists()  # nothing ran


def write_weight(key: str) -> None:
    path = weight_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"placeholder")  # only presence is checked before a run


def test_complete_paper_inputs_have_no_problems_and_a_subset_needs_only_its_own(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path / "weights"))
    for key in ("retinaface", "head_segmentation"):
        write_weight(key)
    data = yaml.safe_load((REPO_ROOT / "profiles" / "paper.yaml").read_text())
    section = data["notebooks"]["01_preprocess"]
    for name, make in zip(PAPER_DATASETS, (make_celeba, make_wider, make_affectnet_csv, make_ckplus, make_faces)):
        make(tmp_path / name)
        section["datasets"][name]["root"] = str(tmp_path / name)
    profile_path = tmp_path / "paper.yaml"
    profile_path.write_text(yaml.safe_dump(data))
    plan = plan_run(load_profile(profile_path), list_notebooks(REPO_ROOT / "notebooks")[:1], tmp_path / "results", REPO_ROOT)
    assert run_problems(plan, REPO_ROOT) == []

    # remove one dataset: only it is reported; running a subset without it is fine
    import shutil

    shutil.rmtree(tmp_path / "faces")
    assert [p.split(":")[0] for p in run_problems(plan, REPO_ROOT)] == ["faces"]
    section["only_datasets"] = ["ckplus"]
    profile_path.write_text(yaml.safe_dump(data))
    plan = plan_run(load_profile(profile_path), list_notebooks(REPO_ROOT / "notebooks")[:1], tmp_path / "results", REPO_ROOT)
    assert run_problems(plan, REPO_ROOT) == []


def test_later_stages_accept_what_earlier_notebooks_of_the_run_make(tmp_path) -> None:
    nb = {stem: Path(f"notebooks/{stem}.ipynb") for stem in ("01_preprocess", "02_train_pix2pix", "03_anonymize")}
    stage01 = {"datasets": {"x": {"root": str(tmp_path)}}, "output_root": str(tmp_path / "processed")}
    stage02 = {"preprocess_dir": str(tmp_path / "processed" / "x"), "output_dir": str(tmp_path / "models")}
    stage03 = {"datasets": ["x"], "preprocess_root": str(tmp_path / "processed"), "methods": ["ganonymization", "blur9"],
               "checkpoint": str(tmp_path / "models" / "checkpoints" / "last.pt"),
               "external_methods": {"ciagan": str(tmp_path / "ciagan" / "{dataset}")}}  # fmt: skip
    whole = [(nb["01_preprocess"], stage01), (nb["02_train_pix2pix"], stage02), (nb["03_anonymize"], stage03)]
    assert [p for p in run_problems(whole, tmp_path) if "ciagan" not in p] == []
    alone = run_problems([(nb["03_anonymize"], stage03)], tmp_path)
    assert any("stage-01 folder" in p and str(tmp_path / "processed" / "x") in p for p in alone)
    assert any("last.pt" in p and "02_train_pix2pix" in p for p in alone)  # says how to get a generator
    assert any("ciagan" in p for p in alone)
    (tmp_path / "ciagan" / "x").mkdir(parents=True)
    stage03["methods"] = ["blur9"]
    assert [p for p in run_problems(whole, tmp_path)] == []


def test_demo_profile_on_a_fresh_clone_counts_the_demo_data_its_setup_builds(tmp_path, monkeypatch, capsys) -> None:
    """A fresh clone has no data/demo: the set-up builds it, so readiness must not stop the run for it."""
    plan = plan_run(load_profile("demo"), list_notebooks(REPO_ROOT / "notebooks"), tmp_path / "results", tmp_path)
    missing = run_problems(plan, tmp_path)
    assert any(str(tmp_path / "data" / "demo") in p for p in missing)  # without the set-up, data/demo is missing
    prepared = notebooks.prepared_paths(load_profile("demo"), tmp_path)
    assert prepared == {(tmp_path / "data" / "demo").resolve()}
    assert run_problems(plan, tmp_path, prepared) == []
    # the runner itself: a dry run on a root without data/demo reports nothing missing
    monkeypatch.setattr(notebooks, "repo_root", lambda: tmp_path)
    assert (
        notebooks.cli(["--dry-run", "--notebooks-dir", str(REPO_ROOT / "notebooks"), "--results-dir", str(tmp_path / "r")]) == 0
    )
    assert "missing:" not in capsys.readouterr().out
