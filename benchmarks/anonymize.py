"""GANonymization throughput: ours vs. the naive per-face pipeline of the original code, side by side.

    python benchmarks/anonymize.py [--preprocess data/processed/demo] [--faces 16] [--batch-size 8] [--device cpu]

Both pipelines do the same work per face: aligned stage-01 face -> 478 MediaPipe landmarks -> 512 px
landmark image -> paper-size pix2pix generator (54.4 M parameters, random weights) -> face -> PNG.

- naive: what the authors' ``anonymize_image`` does for every file: read the whole training checkpoint
  (generator, discriminator and Adam states, like their Lightning files), build both networks with the
  reference initialisation, load the weights, build a FaceMesh, then run one face.
- ours: one FaceMesh, the generator read once (weights only, built on the meta device), faces in batches,
  PNG writing in a thread pool (``FaceSynthesizer`` as used by ``anonymize_preprocessed``).

A third line times ``anonymize_preprocessed`` itself, which reads the landmarks stage 01 stored.
Figures are faces/s with all loading included. Not a test: nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from ganon_utils.anonymize import FaceSynthesizer, anonymize_preprocessed
from ganon_utils.anonymize.synthesis import resolve_device
from ganon_utils.image_io import load_image, save_png
from ganon_utils.pix2pix import Discriminator, GeneratorUNet, save_checkpoint
from ganon_utils.preprocess import run_preprocess, tasks_from_folder
from ganon_utils.preprocess.landmarks import LandmarkExtractor, render_landmarks


def paper_size_checkpoint(path: Path) -> Path:
    """A training checkpoint of the paper's networks with random weights and populated Adam states."""
    torch.manual_seed(0)
    generator, discriminator = GeneratorUNet(), Discriminator()
    optimizers = []
    for network in (generator, discriminator):
        optimizer = torch.optim.Adam(network.parameters(), lr=2e-4, betas=(0.5, 0.999))
        for parameter in network.parameters():
            parameter.grad = torch.zeros_like(parameter)
        optimizer.step()  # zero gradients: the weights stay, the moment buffers exist as in a real file
        optimizers.append(optimizer)
    return save_checkpoint(
        path, generator=generator, discriminator=discriminator, optimizer_generator=optimizers[0],
        optimizer_discriminator=optimizers[1], epoch=25, step=0, config={"image_size": 512},
    )  # fmt: skip


def stage01_faces(preprocess_dir: Path | None, input_dir: Path, workdir: Path, n_faces: int) -> tuple[Path, list[Path]]:
    """A stage-01 folder and the paths of (up to) ``n_faces`` of its aligned faces."""
    if preprocess_dir is None or not (preprocess_dir / "faces.csv").is_file():
        preprocess_dir = workdir / "stage01"
        run_preprocess(tasks_from_folder(input_dir), preprocess_dir, n_workers=0, progress=False)
    faces = pd.read_csv(preprocess_dir / "faces.csv").dropna(subset=["face_path"])
    return preprocess_dir, [preprocess_dir / p for p in faces["face_path"].head(n_faces)]


def run_naive(face_paths: list[Path], checkpoint: Path, out: Path, device: torch.device) -> float:
    """Seconds for all faces, reloading the checkpoint and rebuilding the models for every face."""
    start = time.perf_counter()
    for index, path in enumerate(face_paths):
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        generator, discriminator = GeneratorUNet(), Discriminator()
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        generator.to(device).eval()
        extractor = LandmarkExtractor()
        landmarks = extractor(load_image(path).rgb)
        extractor.close()
        image = torch.from_numpy(render_landmarks(landmarks, 512)).to(device)
        with torch.inference_mode():
            x = image.permute(2, 0, 1)[None].float().div(255).sub(0.5).div(0.5)
            y = generator(x).mul(0.5).add(0.5).clamp(0, 1).mul(255).round().to(torch.uint8)
        save_png(out / f"{index}.png", y[0].permute(1, 2, 0).cpu().numpy())
    return time.perf_counter() - start


def run_ours(face_paths: list[Path], checkpoint: Path, out: Path, device: torch.device, batch_size: int) -> float:
    """Seconds for all faces with one FaceMesh, one generator load and batched synthesis."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    extractor = LandmarkExtractor()
    synthesizer = FaceSynthesizer.from_checkpoint(checkpoint, device=device)
    with ThreadPoolExecutor(max_workers=4) as pool:
        writes = []
        for first in range(0, len(face_paths), batch_size):
            batch = face_paths[first : first + batch_size]
            landmarks = [extractor(load_image(path).rgb) for path in batch]
            for index, face in enumerate(synthesizer(landmarks, 512), start=first):
                writes.append(pool.submit(save_png, out / f"{index}.png", face))
        for write in writes:
            write.result()
    extractor.close()
    return time.perf_counter() - start


def run_library(
    preprocess_dir: Path, n_faces: int, checkpoint: Path, out: Path, device: torch.device, batch_size: int,
    precision: str = "fp32",
) -> float:
    """Seconds for ``anonymize_preprocessed`` on a stage-01 folder cut to ``n_faces`` faces."""
    subset = out / "stage01_subset"
    subset.mkdir(parents=True)
    faces = pd.read_csv(preprocess_dir / "faces.csv").dropna(subset=["face_path"]).head(n_faces)
    for name in ("config.json", "faces", "landmarks"):
        (subset / name).symlink_to((preprocess_dir / name).resolve())
    faces.to_csv(subset / "faces.csv", index=False)
    start = time.perf_counter()
    anonymize_preprocessed(subset, out / f"anonymized_{precision}", "ganonymization", checkpoint=checkpoint,
                           batch_size=batch_size, device=str(device), progress=False, precision=precision)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preprocess", type=Path, default=Path("data/processed/demo"), help="stage-01 folder")
    parser.add_argument("--input", type=Path, default=Path("data/demo"), help="photos, when --preprocess is missing")
    parser.add_argument("--faces", type=int, default=16, help="faces to anonymise")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        checkpoint = paper_size_checkpoint(workdir / "paper_size.pt")
        preprocess_dir, face_paths = stage01_faces(args.preprocess, args.input, workdir, args.faces)
        n = len(face_paths)
        for name in ("naive", "ours", "library", "library_bf16"):
            (workdir / name).mkdir()
        LandmarkExtractor().close()  # warm up MediaPipe's and torch's one-time initialisation for both sides
        naive = run_naive(face_paths, checkpoint, workdir / "naive", device)
        ours = run_ours(face_paths, checkpoint, workdir / "ours", device, args.batch_size)
        library = run_library(preprocess_dir, n, checkpoint, workdir / "library", device, args.batch_size)
        library_bf16 = run_library(preprocess_dir, n, checkpoint, workdir / "library_bf16", device, args.batch_size, "bf16")
        size_mb = checkpoint.stat().st_size / 1e6
        print(f"GANonymization on {n} aligned faces, paper-size generator (512 px), {device}, "
              f"{torch.get_num_threads()} threads, checkpoint {size_mb:.0f} MB, batch {args.batch_size}:")
        print(f"  {'naive (reload + FaceMesh per face)':<44} {n / naive:7.2f} faces/s  ({naive / n:.2f} s/face)")
        print(f"  {'ours (load once, one FaceMesh, batched)':<44} {n / ours:7.2f} faces/s  ({ours / n:.2f} s/face)   "
              f"ratio {naive / ours:.2f}x  (target >= 10x)")
        print(f"  {'anonymize_preprocessed (stored landmarks)':<44} {n / library:7.2f} faces/s  ({library / n:.2f} s/face)   "
              f"ratio {naive / library:.2f}x")
        print(f"  {'  the same with --precision bf16':<44} {n / library_bf16:7.2f} faces/s  ({library_bf16 / n:.2f} s/face)   "
              f"ratio {naive / library_bf16:.2f}x")
        print(f"  per-face overhead removed: {(naive - ours) / n:.2f} s; what is left is the generator's own compute")


if __name__ == "__main__":
    main()
