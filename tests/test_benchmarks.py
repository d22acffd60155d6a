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
    assert ratio(output, "anonymize_preprocessed, default (fp32, compile auto: eager)") > 0  # 2 faces: not compiled
    assert re.search(r"fp32 compile: one-time cost -?\d+\.\d s, saves -?\d+\.\d+ s/face, pays back from", output)
    if has_fast_bf16(torch.device("cpu")):
        for row in ("anonymize_preprocessed, bf16 + compile", "generator, bf16 + compile"):
            assert ratio(output, row) > 0, row
    else:  # emulated bf16 is left out, and the table says so
        assert "bf16 rows left out" in output and ", bf16" not in output


def test_scale_benchmark_prints_every_stage_at_every_size(portraits_stage01, demo_dir, tmp_path) -> None:
    output = run_benchmark("scale.py", "--preprocess", str(portraits_stage01), "--photos", str(demo_dir / "portraits"),
                           "--sizes", "3,6", "--workers", "1", "--workdir", str(tmp_path), timeout=600)  # fmt: skip
    table = output[output.index("Cost growth") :].splitlines()
    assert "3 faces" in table[1] and "6 faces" in table[1] and "growth 3 -> 6" in table[1]
    for stage in ("preprocess", "preprocess_dask", "anonymize", "identity"):
        line = next(line for line in table if line.strip().startswith(stage + " "))
        figures = [float(v.replace(",", "")) for v in line.split("s/face")[0].split()[1:]]
        assert len(figures) == 4 and all(v > 0 for v in figures), line  # s/face and peak MB at both sizes
        assert re.search(r"s/face \d+\.\d+x, MB \d+\.\d+x: (flat|GROWS)$", line), line
    assert list(tmp_path.iterdir()) == []  # every size's inputs and outputs removed


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
