"""``python -m ganon_utils preprocess INPUT_DIR OUTPUT_DIR [options]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ganon_utils.cli_arguments import EXIT_BAD_ARGUMENTS, CommandParser, float_at_least, input_output_problem, int_at_least
from ganon_utils.library_logs import set_verbose
from ganon_utils.preprocess.alignment import ALIGNMENTS
from ganon_utils.preprocess.detection import DETECTORS
from ganon_utils.preprocess.pipeline import PreprocessConfig, run_preprocess, tasks_from_folder, tasks_from_manifest
from ganon_utils.preprocess.segmentation import SEGMENTERS
from ganon_utils.weights import MissingWeightError

MIN_FACE_SIDE = 32
"""Smallest ``--size``: below it no face mesh finds landmarks (and image reading refuses such images)."""

DEFAULTS = PreprocessConfig()


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that make a PreprocessConfig (shared by every command that runs stage 01)."""
    parser.add_argument(
        "--detector",
        default=DEFAULTS.detector,
        choices=sorted(DETECTORS),
        help="face detector (retinaface is the paper's and needs its weight file)",
    )
    parser.add_argument(
        "--segmenter",
        default=DEFAULTS.segmenter,
        choices=sorted(SEGMENTERS),
        help="background removal (head_unet: the paper's U-Net, needs its weight file; head_unet_bgr: the same "
        "U-Net fed BGR pixels as the authors' code did)",
    )
    parser.add_argument(
        "--size",
        type=int_at_least(MIN_FACE_SIDE),
        default=DEFAULTS.image_size,
        help=f"output side in pixels (512; at least {MIN_FACE_SIDE})",
    )
    parser.add_argument(
        "--margin",
        type=float_at_least(0.0),
        default=DEFAULTS.face_margin,
        help="grow the face box by this fraction per side (0 = detector's box)",
    )
    parser.add_argument(
        "--alignment",
        default=DEFAULTS.alignment,
        choices=ALIGNMENTS,
        help="rotate_then_crop: rotate the photo until the eyes are level, then crop the rotated box's "
        "bounds; crop_then_rotate: crop the box, then rotate the crop about its centre (black corners), "
        "as the authors' retina-face 0.0.14",
    )
    parser.add_argument(
        "--min-face-size",
        type=int_at_least(0),
        default=DEFAULTS.min_face_size,
        help="skip faces whose box is smaller than this many pixels",
    )
    parser.add_argument(
        "--max-pixels",
        type=int_at_least(1),
        default=DEFAULTS.max_pixels,
        help="refuse images with more pixels than this (status too_large)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the native libraries' log lines (MediaPipe, TFLite); the same as GANON_LOG_LEVEL=debug",
    )


def config_from_arguments(args: argparse.Namespace) -> PreprocessConfig:
    """The PreprocessConfig named by the options of :func:`add_stage_arguments`."""
    return PreprocessConfig(
        detector=args.detector, segmenter=args.segmenter, image_size=args.size, face_margin=args.margin,
        min_face_size=args.min_face_size, max_pixels=args.max_pixels, alignment=args.alignment,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m ganon_utils preprocess",
        description="Detect every face, align it (eyes level, longest side SIZE, zero-padded square), "
        "remove the background and extract 478 MediaPipe landmarks. Writes faces/, landmarks/, "
        "manifest.csv (one row per image with its status) and faces.csv into OUTPUT_DIR. "
        "Inputs are only read; rerunning resumes and skips finished images.",
    )
    parser.add_argument("input_dir", type=Path, help="folder of images (searched recursively)")
    parser.add_argument("output_dir", type=Path, help="folder for faces, landmarks and the manifest")
    add_stage_arguments(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        default=None,
        help="read INPUT_DIR as this dataset in its original layout (celeba, wider_face, "
        "affectnet, ckplus, faces, generic); default: every image in INPUT_DIR, split 'all'",
    )
    source.add_argument(
        "--manifest", type=Path, default=None, help="dataset manifest CSV (columns image_path relative to INPUT_DIR, split)"
    )
    parser.add_argument(
        "--workers",
        type=int_at_least(0),
        default=None,
        help="Dask worker processes (default: one per core; 0 = run in this process)",
    )
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def fail(message: str) -> int:
    """Print ``error: message`` on stderr; the exit code of a bad invocation (2)."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_ARGUMENTS


def command_tasks(input_dir: Path, dataset: str | None, manifest: Path | None) -> list:
    """The images the command processes: a dataset in its layout, the rows of a manifest, or a folder's images."""
    if dataset is not None:
        from ganon_utils.datasets import load_dataset

        return tasks_from_manifest(load_dataset(dataset, input_dir), input_dir)
    if manifest is not None:
        if not manifest.is_file():
            raise FileNotFoundError(f"--manifest {manifest} does not exist")
        table = pd.read_csv(manifest)
        if "image_path" not in table.columns:
            raise ValueError(f"--manifest {manifest} has no image_path column (columns: {', '.join(map(str, table.columns))})")
        return tasks_from_manifest(table, input_dir)
    return tasks_from_folder(input_dir)


def cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    set_verbose(args.verbose)
    if not args.input_dir.is_dir():
        return fail(f"input folder {args.input_dir} does not exist")
    problem = input_output_problem(args.input_dir, args.output_dir)
    if problem:
        return fail(problem)
    input_dir, output_dir = args.input_dir.resolve(), args.output_dir.resolve()
    config = config_from_arguments(args)
    try:
        tasks = command_tasks(input_dir, args.dataset, args.manifest)
    except (FileNotFoundError, ValueError, KeyError) as error:
        return fail(str(error).strip("'\""))
    if not tasks:
        return fail(f"no images found in {args.input_dir}")
    try:
        result = run_preprocess(
            tasks, output_dir, config, n_workers=args.workers, scheduler_address=args.scheduler,
            progress=not args.no_progress,
        )  # fmt: skip
    except (MissingWeightError, ValueError) as error:  # missing weights, or a folder made with other settings
        return fail(str(error))
    faces_ok = int((result.faces["status"] == "ok").sum())
    print(
        f"{len(tasks)} images ({result.processed} processed, {result.skipped} already done); "
        f"{len(result.faces)} faces, {faces_ok} with landmarks"
    )
    for status, count in result.status_counts().items():
        print(f"  {status:<14} {count}")
    print(f"manifest: {output_dir / 'manifest.csv'}")
    return 0
