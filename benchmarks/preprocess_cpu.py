"""Preprocessing throughput on the CPU, printed side by side with naive baselines.

    python benchmarks/preprocess_cpu.py [--input data/demo/portraits] [--repeats 3] [--workers 2]

1. Landmark extraction alone, on aligned faces: one FaceMesh reused for every face (ours) vs. a FaceMesh
   built for every image (the naive pattern). Target: ours >= 3x the naive baseline.
2. The whole chain (read, detect, align, segment, landmarks, write) in this process and on a local Dask
   cluster, in faces/s, start-up included.
Not a test: it prints figures; nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ganon_utils.image_io import load_image
from ganon_utils.preprocess import PreprocessConfig, run_preprocess, tasks_from_folder
from ganon_utils.preprocess.landmarks import LandmarkExtractor


def aligned_faces(input_dir: Path, workdir: Path) -> list[np.ndarray]:
    """Preprocess ``input_dir`` once and return its aligned faces (the input of landmark extraction)."""
    result = run_preprocess(tasks_from_folder(input_dir), workdir / "faces_for_landmarks", n_workers=0, progress=False)
    paths = result.faces.loc[result.faces["face_path"].astype(bool), "face_path"]
    return [load_image(workdir / "faces_for_landmarks" / p).rgb for p in paths]


def landmarks_reused(faces: list[np.ndarray]) -> float:
    """Seconds for all faces with one extractor (built inside the timing)."""
    start = time.perf_counter()
    extractor = LandmarkExtractor()
    for face in faces:
        extractor(face)
    extractor.close()
    return time.perf_counter() - start


def landmarks_naive(faces: list[np.ndarray]) -> float:
    """Seconds for all faces building a FaceMesh per image, as a per-image script would."""
    start = time.perf_counter()
    for face in faces:
        extractor = LandmarkExtractor()
        extractor(face)
        extractor.close()
    return time.perf_counter() - start


def whole_chain(input_dir: Path, workdir: Path, n_workers: int) -> tuple[float, int]:
    """Seconds and face count for the full stage on a fresh output folder."""
    out = Path(tempfile.mkdtemp(dir=workdir))
    start = time.perf_counter()
    result = run_preprocess(tasks_from_folder(input_dir), out, PreprocessConfig(), n_workers=n_workers, progress=False)
    return time.perf_counter() - start, len(result.faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--input",
        type=Path,
        default=Path("data/demo/portraits"),
        help="photos (default: the demo's 14 portraits; data/demo also holds 1,020 training frames)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each measurement")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers for the parallel chain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        faces = aligned_faces(args.input, workdir)
        n = len(faces)
        ours = min(landmarks_reused(faces) for _ in range(args.repeats))
        naive = min(landmarks_naive(faces) for _ in range(args.repeats))
        print(f"landmark extraction on {n} aligned faces (best of {args.repeats}):")
        print(f"  {'naive (FaceMesh per image)':<34} {n / naive:8.1f} faces/s")
        print(f"  {'ours (one FaceMesh, reused)':<34} {n / ours:8.1f} faces/s   ratio {naive / ours:.1f}x  (target >= 3x)")
        serial = min(whole_chain(args.input, workdir, 0) for _ in range(args.repeats))
        parallel = min(whole_chain(args.input, workdir, args.workers) for _ in range(args.repeats))
        print(f"whole chain on {args.input} ({serial[1]} faces, start-up included, best of {args.repeats}):")
        print(f"  {'in this process':<34} {serial[1] / serial[0]:8.1f} faces/s")
        print(
            f"  {f'Dask, {args.workers} worker processes':<34} {parallel[1] / parallel[0]:8.1f} faces/s   ratio {serial[0] / parallel[0]:.2f}x"
        )


if __name__ == "__main__":
    main()
