"""The benchmark scripts run end to end, tiny, on the CPU and print their side-by-side tables.

They are the instruments for the rare GPU runs (benchmarks/gpu_checks.sh): a script broken by a library
change must show up here, not on the GPU machine. Nothing asserts on timings, only on what is printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganon_utils.devices import has_fast_bf16

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run_benchmark(script: str, *args: str, timeout: int = 300) -> str:
    """stdout + stderr of ``python benchmarks/<script> args`` run as the GPU machine runs it (PYTHONPATH=repo)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def ratio(output: str, row: str) -> float:
    """The ``N.NNx`` figure printed on the line that starts with ``row`` (after indentation)."""
    line = next(line for line in output.splitlines() if line.strip().startswith(row))
    return float(re.findall(r"(\d+\.\d+)x", line)[-1])


def test_classifier_training_benchmark_prints_three_recipes() -> None:
    output = run_benchmark("train_classifier.py", "--device", "cpu", "--architecture", "convnext_tiny",
                           "--image-size", "32", "--batch-size", "2", "--steps", "1")  # fmt: skip
    assert ratio(output, "reference: fp32") == 1.0
    assert ratio(output, "ours, fp32") > 0 and ratio(output, "ours, bf16 + channels-last") > 0


def test_pix2pix_training_benchmark_prints_the_reference_and_ours() -> None:
    output = run_benchmark("train_gpu.py", "--device", "cpu", "--image-size", "256", "--batch-size", "2", "--steps", "1")
    assert ratio(output, "(a) reference") == 1.0
    assert ratio(output, "(b) ours") > 0 and ratio(output, "(c) ours + torch.compile") > 0


def test_anonymization_benchmark_runs_on_stored_landmarks(portraits_stage01) -> None:
    output = run_benchmark("anonymize.py", "--preprocess", str(portraits_stage01), "--stored-landmarks",
                           "--faces", "2", "--batch-size", "2", "--device", "cpu")  # fmt: skip
    assert ratio(output, "ours (load once, batched)") > 0
    for row in ("anonymize_preprocessed, fp32", "anonymize_preprocessed, fp32 + compile", "generator, fp32 + compile"):
        assert ratio(output, row) > 0, row
    if has_fast_bf16(torch.device("cpu")):
        for row in ("anonymize_preprocessed, bf16 + compile", "generator, bf16 + compile"):
            assert ratio(output, row) > 0, row
    else:  # emulated bf16 is left out, and the table says so
        assert "bf16 rows left out" in output and ", bf16" not in output


def test_preprocessing_benchmark_prints_both_comparisons(demo_dir) -> None:
    output = run_benchmark("preprocess_cpu.py", "--input", str(demo_dir / "portraits"), "--repeats", "1", "--workers", "1")
    assert ratio(output, "ours (one FaceMesh, reused)") > 0
    assert ratio(output, "Dask, 1 worker processes") > 0


def test_gpu_checks_script_runs_a_selected_check_in_smoke_mode(tmp_path) -> None:
    env = {**os.environ, "SMOKE": "1", "ONLY": "train_classifier_gpu", "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_checks.sh"), str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "== train_gpu: skipped" in done.stdout and "== anonymize_gpu: skipped" in done.stdout
    written = (tmp_path / "train_classifier_gpu.txt").read_text()
    assert ratio(written, "reference: fp32") == 1.0 and not (tmp_path / "train_gpu.txt").exists()
