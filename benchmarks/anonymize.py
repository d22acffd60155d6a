"""GANonymization throughput: ours vs. the naive per-face pipeline of the original code, side by side.

    python benchmarks/anonymize.py [--preprocess data/processed/demo] [--faces 48] [--naive-faces 32]
        [--batch-size 8] [--device cpu]
        [--stored-landmarks]   # no FaceMesh on either side (automatic when MediaPipe is missing)

    python benchmarks/anonymize.py --faces 512   # steady state: one-time costs amortised (~10 min on 2 cores)

Both pipelines do the same work per face: aligned stage-01 face -> 478 MediaPipe landmarks -> 512 px
landmark image -> paper-size pix2pix generator (54.4 M parameters, random weights) -> face -> PNG.

- naive: what the authors' ``anonymize_image`` does for every file: read the whole training checkpoint
  (generator, discriminator and Adam states, like their Lightning files), build both networks with the
  reference initialisation, load the weights, build a FaceMesh, then run one face with autograd on
  (their ``Pix2PixTransformer`` calls the model outside ``torch.no_grad``).
- ours: one FaceMesh, the generator read once (weights only, built on the meta device), faces in batches,
  PNG writing in a thread pool (``FaceSynthesizer`` as used by ``anonymize_preprocessed``).

Further lines time ``anonymize_preprocessed`` itself (it reads the landmarks stage 01 stored) in fp32 and
bf16, eager and with ``compile=True`` (torch.compile with frozen weights; its one-time compilation is
included), and with its defaults (fp32, ``compile="auto"``: compiled from ``AUTO_COMPILE_MIN_FACES`` faces
on). These figures are faces/s with all loading included. Last, the generator alone on one batch of real
landmark images, steady state after a first batch: ``naive s/face / generator s/face`` bounds the ratio any
pipeline can reach, and the first batch's extra time when compiled over the saving per face says from how
many faces compilation pays back.
The demo has a few dozen faces; ``--faces`` larger than that reuses them (under new face ids). The naive
pipeline costs about a second per face on the CPU and its cost per face does not depend on the count, so it
runs on ``--naive-faces`` of them (all when 0) and every ratio compares seconds per face.
Not a test: nothing asserts on timings.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ganon_utils.anonymize import FaceSynthesizer, anonymize_preprocessed
from ganon_utils.anonymize.synthesis import AUTO, AUTO_COMPILE_MIN_FACES, CompileChoice, resolve_compile, resolve_device
from ganon_utils.devices import has_fast_bf16
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


def stage01_faces(preprocess_dir: Path | None, input_dir: Path, workdir: Path, n_faces: int) -> tuple[Path, pd.DataFrame]:
    """A stage-01 folder and ``n_faces`` rows of its faces.csv with landmarks (reused under new ids if too few)."""
    if preprocess_dir is None or not (preprocess_dir / "faces.csv").is_file():
        preprocess_dir = workdir / "stage01"
        run_preprocess(tasks_from_folder(input_dir), preprocess_dir, n_workers=0, progress=False)
    faces = pd.read_csv(preprocess_dir / "faces.csv").dropna(subset=["face_path", "landmarks_path"])
    if faces.empty:
        raise SystemExit(f"{preprocess_dir} has no face with landmarks")
    repeats = [faces.assign(face_id=faces["face_id"] + ("" if r == 0 else f"_r{r}")) for r in range(-(-n_faces // len(faces)))]
    return preprocess_dir, pd.concat(repeats, ignore_index=True).head(n_faces)


def mediapipe_available() -> bool:
    """True when MediaPipe is installed (the GPU machine's stock python has none)."""
    return importlib.util.find_spec("mediapipe") is not None


def face_landmarks(extractor: LandmarkExtractor | None, face_path: Path, landmarks_path: Path) -> np.ndarray | None:
    """Landmarks from a live FaceMesh, or those stage 01 stored when ``extractor`` is None."""
    if extractor is None:
        return np.load(landmarks_path, allow_pickle=False)
    return extractor(load_image(face_path).rgb)


def run_naive(faces: list[tuple[Path, Path]], checkpoint: Path, out: Path, device: torch.device, live: bool) -> float:
    """Seconds for all (face, landmarks) paths, reloading the checkpoint and rebuilding the models for every face."""
    start = time.perf_counter()
    for index, (face_path, landmarks_path) in enumerate(faces):
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        generator, discriminator = GeneratorUNet(), Discriminator()
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        generator.to(device).eval()
        extractor = LandmarkExtractor() if live else None
        landmarks = face_landmarks(extractor, face_path, landmarks_path)
        if extractor is not None:
            extractor.close()
        image = torch.from_numpy(render_landmarks(landmarks, 512)).to(device)
        x = image.permute(2, 0, 1)[None].float().div(255).sub(0.5).div(0.5)
        y = generator(x)  # autograd on, as in the original
        face = y.detach().mul(0.5).add(0.5).clamp(0, 1).mul(255).round().to(torch.uint8)
        save_png(out / f"{index}.png", face[0].permute(1, 2, 0).cpu().numpy())
    return time.perf_counter() - start


def run_ours(
    faces: list[tuple[Path, Path]], checkpoint: Path, out: Path, device: torch.device, batch_size: int, live: bool
) -> float:
    """Seconds for all faces with one FaceMesh, one generator load and batched synthesis."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    extractor = LandmarkExtractor() if live else None
    synthesizer = FaceSynthesizer.from_checkpoint(checkpoint, device=device)
    with ThreadPoolExecutor(max_workers=4) as pool:
        writes = []
        for first in range(0, len(faces), batch_size):
            landmarks = [face_landmarks(extractor, *paths) for paths in faces[first : first + batch_size]]
            for index, face in enumerate(synthesizer(landmarks, 512), start=first):
                writes.append(pool.submit(save_png, out / f"{index}.png", face))
        for write in writes:
            write.result()
    if extractor is not None:
        extractor.close()
    return time.perf_counter() - start


def stage01_subset(preprocess_dir: Path, faces: pd.DataFrame, out: Path) -> Path:
    """A stage-01 folder whose faces.csv lists ``faces`` (files linked from ``preprocess_dir``)."""
    out.mkdir(parents=True)
    for name in ("config.json", "faces", "landmarks"):
        (out / name).symlink_to((preprocess_dir / name).resolve())
    faces.to_csv(out / "faces.csv", index=False)
    return out


def run_library(
    subset: Path,
    checkpoint: Path,
    out: Path,
    device: torch.device,
    batch_size: int,
    precision: str,
    compile: CompileChoice,
) -> float:
    """Seconds for ``anonymize_preprocessed`` (all loading and any compilation included)."""
    start = time.perf_counter()
    anonymize_preprocessed(subset, out, "ganonymization", checkpoint=checkpoint, batch_size=batch_size,
                           device=str(device), progress=False, precision=precision, compile=compile)  # fmt: skip
    return time.perf_counter() - start


def generator_seconds(
    checkpoint: Path, device: torch.device, landmarks: list[np.ndarray], precision: str, compile: bool, batches: int = 4
) -> tuple[float, float]:
    """(seconds of the first batch, steady-state seconds per face) of the generator alone on ``landmarks``.

    The first batch carries the one-time costs (kernel selection; compilation when ``compile``); the steady state
    is timed over ``batches`` more. Real landmark images, not blank ones: constant inputs take other (denormal)
    paths through the CPU's arithmetic and time differently.
    """
    synthesizer = FaceSynthesizer.from_checkpoint(checkpoint, device=device, precision=precision, compile=compile)
    images = synthesizer.landmark_images(landmarks)
    start = time.perf_counter()
    synthesizer.synthesize(images, 512)
    first = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        synthesizer.synthesize(images, 512)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return first, (time.perf_counter() - start) / (batches * len(landmarks))


VARIANTS = [("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True)]


def variant_name(precision: str, compile: bool) -> str:
    return precision + (" + compile" if compile else "")


def compile_break_even(eager: tuple[float, float], compiled: tuple[float, float], batch_size: int) -> tuple[float, float, float]:
    """(one-time seconds, seconds saved per face, faces from which compiling pays) from two :func:`generator_seconds`.

    The one-time cost is what the compiled first batch took beyond the eager first batch, less the batch itself.
    """
    saved = eager[1] - compiled[1]
    one_time = compiled[0] - eager[0] - batch_size * saved
    return one_time, saved, (one_time / saved if saved > 0 else float("inf"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preprocess", type=Path, default=Path("data/processed/demo"), help="stage-01 folder")
    parser.add_argument("--input", type=Path, default=Path("data/demo/portraits"), help="photos, when --preprocess is missing")
    parser.add_argument("--faces", type=int, default=48, help="faces to anonymise")
    parser.add_argument(
        "--naive-faces",
        type=int,
        default=32,
        help="faces the naive pipeline runs (0: all; its cost per face does not depend on the count)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--stored-landmarks",
        action="store_true",
        help="naive and ours read stage 01's landmarks instead of running FaceMesh (automatic "
        "without MediaPipe, e.g. on the GPU machine; needs --preprocess)",
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(workdir / "inductor_cache")  # compile cold, as on first use
        checkpoint = paper_size_checkpoint(workdir / "paper_size.pt")
        preprocess_dir, faces = stage01_faces(args.preprocess, args.input, workdir, args.faces)
        subset = stage01_subset(preprocess_dir, faces, workdir / "stage01_subset")
        paths = [
            (preprocess_dir / face, preprocess_dir / points) for face, points in zip(faces["face_path"], faces["landmarks_path"])
        ]
        n = len(paths)
        live = mediapipe_available() and not args.stored_landmarks
        for name in ("naive", "ours"):
            (workdir / name).mkdir()
        if live:
            LandmarkExtractor().close()  # warm up MediaPipe's one-time initialisation for both sides
        with torch.inference_mode():  # and torch's (kernel selection, first allocations), so naive does not pay them alone
            GeneratorUNet().to(device).eval()(torch.zeros(1, 3, 512, 512, device=device))
        naive_paths = paths[: args.naive_faces] if args.naive_faces > 0 else paths
        naive_per_face = run_naive(naive_paths, checkpoint, workdir / "naive", device, live) / len(naive_paths)
        ours = run_ours(paths, checkpoint, workdir / "ours", device, args.batch_size, live)
        # bf16 only where the device computes it natively: emulated (AVX2-only CPUs) it is many times slower than fp32
        variants = VARIANTS if has_fast_bf16(device) else [(p, c) for p, c in VARIANTS if p == "fp32"]
        library = {
            (p, c): run_library(subset, checkpoint, workdir / f"library_{p}_{c}", device, args.batch_size, p, c)
            for p, c in variants
        }
        default = run_library(subset, checkpoint, workdir / "library_default", device, args.batch_size, "fp32", AUTO)
        default_compiles = resolve_compile(AUTO, n, device)
        batch_landmarks = [
            np.load(preprocess_dir / path, allow_pickle=False) for path in faces["landmarks_path"][: args.batch_size]
        ]
        generator = {(p, c): generator_seconds(checkpoint, device, batch_landmarks, p, c) for p, c in variants}

        size_mb = checkpoint.stat().st_size / 1e6
        print(
            f"GANonymization on {n} aligned faces (naive: the first {len(naive_paths)}), paper-size generator (512 px), "
            f"{device}, {torch.get_num_threads()} threads, checkpoint {size_mb:.0f} MB, batch {args.batch_size}, "
            f"landmarks {'from FaceMesh' if live else 'stored by stage 01 (no FaceMesh in naive or ours)'}; "
            "ratios: naive s/face over the row's s/face:"
        )
        row("naive (reload" + (" + FaceMesh" if live else "") + " per face)", naive_per_face)
        row("ours (load once" + (", one FaceMesh" if live else "") + ", batched)", ours / n, naive_per_face, "   (target >= 10x)")
        if variants != VARIANTS:
            print(f"  bf16 rows left out: this {device.type} has no native bf16 (ganon_utils.devices.has_fast_bf16)")
        for (p, c), seconds in library.items():
            row(f"anonymize_preprocessed, {variant_name(p, c)}", seconds / n, naive_per_face)
        chosen = "compiled" if default_compiles else "eager"
        row(
            f"anonymize_preprocessed, default (fp32, compile auto: {chosen})",
            default / n,
            naive_per_face,
            f"   (auto compiles from {AUTO_COMPILE_MIN_FACES} faces)",
        )
        print(
            f"  per-face overhead removed: {naive_per_face - ours / n:.3f} s. The generator alone, steady state "
            "(the most any pipeline can gain is naive s/face over this):"
        )
        for (p, c), (_, seconds) in generator.items():
            row(f"  generator, {variant_name(p, c)}", seconds, naive_per_face, label="bound")
        for p in sorted({p for p, _ in variants}, reverse=True):
            one_time, saved, break_even = compile_break_even(generator[(p, False)], generator[(p, True)], args.batch_size)
            print(
                f"  {p} compile: one-time cost {one_time:.1f} s, saves {saved:.3f} s/face, pays back from "
                f"{break_even:.0f} faces (AUTO_COMPILE_MIN_FACES = {AUTO_COMPILE_MIN_FACES})"
            )


def row(name: str, seconds_per_face: float, naive_per_face: float | None = None, note: str = "", label: str = "ratio") -> None:
    """One line of the table: faces/s, s/face and, against the naive pipeline, the ratio."""
    ratio = "" if naive_per_face is None else f"   {label} {naive_per_face / seconds_per_face:5.2f}x"
    print(f"  {name:<56} {1 / seconds_per_face:7.2f} faces/s  ({seconds_per_face:.3f} s/face){ratio}{note}")


if __name__ == "__main__":
    main()
