"""Cost growth with the number of faces: seconds per face and peak memory of each stage, size by size.

    python benchmarks/scale.py [--sizes 300,3000,10000] [--workers 2] [--stages preprocess,anonymize,...]
        [--preprocess data/processed/demo --photos data/demo] [--workdir DIR]

The inputs are 256 px JPEGs, each centred on one face, cut from the demo photos (``--photos``) around the faces stage 01 found
in them (``--preprocess``, the demo's stage-01 folder made from those photos), one per face id, each with a small random jitter (shift,
scale, rotation, brightness) so that no file, hash or cache entry repeats. Each stage runs alone in a
child process, and its peak memory is the largest resident set of that process and its children (Dask
workers included), sampled every 0.1 s:

- preprocess: stage 01 in one process (``n_workers=0``);
- preprocess_dask: stage 01 with ``--workers`` Dask worker processes;
- anonymize: stage 03 GANonymization of the stage-01 faces (a generator of random weights at 128 px, eager:
  what is measured is the pipeline around the network, which a paper-size generator would hide);
- identity: the identity evaluation (SFace) of the originals against the anonymised faces.

A flat stage keeps its seconds per face within 1.5x and its peak memory within 1.25x from the second
largest size to the largest; the last column says "flat" or "GROWS". The 10,000-face run takes about
an hour and a half on 2 cores and ~9 GB of disk (each size's files are deleted after it).
Not a test: nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import psutil

from ganon_utils.image_io import ImageLoadError, load_image

REPO = Path(__file__).resolve().parent.parent
STAGES = ("preprocess", "preprocess_dask", "anonymize", "identity")
INPUT_SIDE = 256
CROP_SCALE = 1.8  # crop side over the detected box's longer side: the face with some hair and background
GENERATOR_SIDE = 128
SECONDS_GROWTH_LIMIT = 1.5
MEMORY_GROWTH_LIMIT = 1.25


def source_faces(preprocess_dir: Path, photos_dir: Path) -> list[np.ndarray]:
    """Square BGR crops of INPUT_SIDE px around every face stage 01 found with landmarks in ``preprocess_dir``
    (made from the photos in ``photos_dir``, which its manifest's sources are relative to)."""
    faces = pd.read_csv(preprocess_dir / "faces.csv", keep_default_na=False)
    manifest = pd.read_csv(preprocess_dir / "manifest.csv", keep_default_na=False).set_index("image_id")
    crops = []
    for face in faces[faces["status"] == "ok"].itertuples(index=False):
        try:  # Pillow, as stage 01 reads them (OpenCV's libpng would print warnings about some files' colour profiles)
            image = np.ascontiguousarray(load_image(photos_dir / manifest.loc[face.image_id, "source"]).rgb[..., ::-1])
        except (ImageLoadError, OSError):
            continue
        cx, cy = (face.box_x0 + face.box_x1) / 2, (face.box_y0 + face.box_y1) / 2
        half = CROP_SCALE * max(face.box_x1 - face.box_x0, face.box_y1 - face.box_y0) / 2
        scale = INPUT_SIDE / (2 * half)
        to_crop = np.array([[scale, 0, INPUT_SIDE / 2 - scale * cx], [0, scale, INPUT_SIDE / 2 - scale * cy]])
        crops.append(cv2.warpAffine(image, to_crop, (INPUT_SIDE, INPUT_SIDE), borderMode=cv2.BORDER_REFLECT_101))
    if not crops:
        raise SystemExit(f"no face of {preprocess_dir} found in the photos of {photos_dir}; run ./run_all.sh first")
    return crops


def jittered(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``crop`` shifted, scaled and rotated a little, with its brightness changed a little."""
    angle, scale = rng.uniform(-4, 4), rng.uniform(0.95, 1.05)
    shift = rng.uniform(-0.03, 0.03, size=2) * INPUT_SIDE
    matrix = cv2.getRotationMatrix2D((INPUT_SIDE / 2, INPUT_SIDE / 2), angle, scale)
    matrix[:, 2] += shift
    moved = cv2.warpAffine(crop, matrix, (INPUT_SIDE, INPUT_SIDE), borderMode=cv2.BORDER_REFLECT_101)
    return cv2.convertScaleAbs(moved, alpha=rng.uniform(0.92, 1.08), beta=rng.uniform(-6, 6))


def write_inputs(crops: list[np.ndarray], n_faces: int, folder: Path, seed: int) -> Path:
    """``n_faces`` jittered face-centred JPEGs ``face_000000.jpg``, ... in ``folder`` (cycling through ``crops``)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(n_faces):
        cv2.imwrite(
            str(folder / f"face_{index:06d}.jpg"), jittered(crops[index % len(crops)], rng), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
    return folder


def random_generator_checkpoint(path: Path) -> Path:
    """A bare state dict of a 128 px generator (7 down blocks, 16 base channels) with random weights."""
    import torch

    from ganon_utils.pix2pix import GeneratorUNet

    torch.manual_seed(0)
    torch.save(GeneratorUNet(num_downs=7, base_channels=16).state_dict(), path)
    return path


def run_stage(stage: str, size_dir: Path, workers: int) -> int:
    """Run one stage on ``size_dir`` (in this process); the number of faces it handled."""
    from ganon_utils.anonymize import anonymize_preprocessed
    from ganon_utils.evaluation.anonymity import identity_evaluation
    from ganon_utils.evaluation.identity import build_embedder
    from ganon_utils.preprocess import run_preprocess, tasks_from_folder

    inputs, stage01 = size_dir / "inputs", size_dir / "stage01"
    if stage in ("preprocess", "preprocess_dask"):
        out = stage01 if stage == "preprocess" else size_dir / "stage01_dask"
        run_preprocess(tasks_from_folder(inputs), out, n_workers=0 if stage == "preprocess" else workers, progress=False)
        return int((pd.read_csv(out / "faces.csv", keep_default_na=False)["face_path"] != "").sum())
    if stage == "anonymize":
        checkpoint = random_generator_checkpoint(size_dir / "generator.pt")
        manifest = anonymize_preprocessed(stage01, size_dir / "anonymized", "ganonymization", checkpoint=checkpoint,
                                          image_size=GENERATOR_SIDE, device="cpu", progress=False, compile=False)  # fmt: skip
        return int((manifest["face_path"] != "").sum())
    if stage == "identity":
        result = identity_evaluation(
            stage01, size_dir / "anonymized", ["ganonymization"], build_embedder("sface"), progress=False
        )
        distances = result.distances[result.distances["method"] == "ganonymization"]
        return int(distances["distance"].notna().sum())  # faces compared (each embedded as original and anonymised)
    raise ValueError(f"unknown stage {stage!r}")


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants (0 for those already gone)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(stage: str, size_dir: Path, workers: int) -> tuple[float, int, int]:
    """(seconds, faces, peak resident bytes of the stage's process tree) of ``stage`` run in a child process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        stage,
        "--workdir",
        str(size_dir),
        "--workers",
        str(workers),
    ]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        peak = max(peak, tree_rss(watched))
        time.sleep(0.1)
    output = child.stdout.read() if child.stdout is not None else ""
    if child.returncode != 0:
        raise SystemExit(f"stage {stage} failed on {size_dir} (exit {child.returncode})")
    result = json.loads(output.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["faces"]), peak


def child_main(stage: str, size_dir: Path, workers: int) -> None:
    """The child side of :func:`measure`: run the stage and print its seconds and faces as JSON."""
    import ganon_utils.anonymize
    import ganon_utils.evaluation.anonymity
    import ganon_utils.preprocess  # noqa: F401  (imports are not the stage's cost)

    start = time.perf_counter()
    faces = run_stage(stage, size_dir, workers)
    print(json.dumps({"seconds": time.perf_counter() - start, "faces": faces}))


def growth_verdict(seconds_ratio: float, memory_ratio: float) -> str:
    """'flat' when both ratios stay within their limits, else 'GROWS'."""
    return "flat" if seconds_ratio <= SECONDS_GROWTH_LIMIT and memory_ratio <= MEMORY_GROWTH_LIMIT else "GROWS"


def print_table(results: dict[tuple[str, int], tuple[float, int, int]], stages: list[str], sizes: list[int]) -> None:
    """Seconds per face and peak MB per stage (rows) and size (columns), and the growth over the last two sizes."""
    header = "".join(f"{f'{n:,} faces':>22}" for n in sizes)
    growth = f"   growth {sizes[-2]:,} -> {sizes[-1]:,}" if len(sizes) > 1 else ""
    print(f"  {'stage':<16}{header}{growth}")
    print(f"  {'':<16}" + "".join(f"{'s/face   peak MB':>22}" for _ in sizes))
    for stage in stages:
        cells = []
        for n in sizes:
            seconds, faces, peak = results[(stage, n)]
            cells.append(f"{seconds / max(faces, 1):>12.3f}{peak / 2**20:>10,.0f}")
        line = f"  {stage:<16}{''.join(cells)}"
        if len(sizes) > 1:
            (s1, f1, m1), (s2, f2, m2) = results[(stage, sizes[-2])], results[(stage, sizes[-1])]
            seconds_ratio, memory_ratio = (s2 / max(f2, 1)) / (s1 / max(f1, 1)), m2 / m1
            line += f"   s/face {seconds_ratio:4.2f}x, MB {memory_ratio:4.2f}x: {growth_verdict(seconds_ratio, memory_ratio)}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300,3000,10000", help="comma-separated face counts")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes for preprocess_dask")
    parser.add_argument("--preprocess", type=Path, default=REPO / "data/processed/demo", help="stage-01 folder of the demo")
    parser.add_argument("--photos", type=Path, default=REPO / "data/demo", help="the photos that folder was made from")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the inputs and outputs go (default: a temporary folder)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child_main(args.child, args.workdir, args.workers)
        return
    sizes = [int(n) for n in args.sizes.split(",")]
    stages = [s for s in args.stages.split(",") if s]
    if unknown := set(stages) - set(STAGES):
        raise SystemExit(f"unknown stages {sorted(unknown)}; choose from {', '.join(STAGES)}")
    if ("anonymize" in stages or "identity" in stages) and "preprocess" not in stages:
        raise SystemExit("anonymize and identity read what stage preprocess writes: keep preprocess in --stages")
    if "identity" in stages and "anonymize" not in stages:
        raise SystemExit("identity compares with what stage anonymize writes: keep anonymize in --stages")
    crops = source_faces(args.preprocess, args.photos)
    root = Path(tempfile.mkdtemp(prefix="ganon_scale_", dir=args.workdir))
    results: dict[tuple[str, int], tuple[float, int, int]] = {}
    try:
        for n in sizes:
            size_dir = root / f"n{n}"
            write_inputs(crops, n, size_dir / "inputs", seed=n)
            for stage in stages:
                results[(stage, n)] = measure(stage, size_dir, args.workers)
                seconds, faces, peak = results[(stage, n)]
                print(
                    f"  done: {stage} on {n:,} inputs, {faces:,} faces, {seconds:.0f} s, peak {peak / 2**20:,.0f} MB", flush=True
                )
            shutil.rmtree(size_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"Cost growth on {os.cpu_count()} cores, {len(crops)} demo faces jittered into face-centred {INPUT_SIDE} px JPEGs; "
        f"seconds per face and peak resident MB of each stage's process tree (Dask workers: {args.workers}):"
    )
    print_table(results, stages, sizes)
    print(f"  flat: s/face within {SECONDS_GROWTH_LIMIT}x and peak MB within {MEMORY_GROWTH_LIMIT}x over the last two sizes")


if __name__ == "__main__":
    main()
