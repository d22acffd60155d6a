"""``python -m ganon_utils anonymize INPUT OUTPUT --method M [options]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganon_utils.anonymize.photos import PHOTOS_TABLE, anonymize_photos
from ganon_utils.anonymize.pipeline import anonymize_preprocessed
from ganon_utils.anonymize.residual import RESIDUAL_ACTIONS, RESIDUAL_DETECTOR
from ganon_utils.anonymize.synthesis import AUTO, AUTO_COMPILE_MIN_FACES, GANONYMIZATION, missing_checkpoint_message
from ganon_utils.cli_arguments import CommandParser, device_name, input_output_problem, int_at_least
from ganon_utils.devices import PRECISIONS
from ganon_utils.library_logs import set_verbose
from ganon_utils.preprocess.cli import add_stage_arguments, config_from_arguments, fail
from ganon_utils.preprocess.detection import DETECTORS
from ganon_utils.stages import ANONYMIZED_STATUSES
from ganon_utils.weights import default_generator_checkpoint


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m ganon_utils anonymize",
        description="Anonymise the faces of a photo or a folder of photos. By default every photo is written whole, "
        "with its faces replaced, to OUTPUT/METHOD/photo_000001.<ext>, ... (neutral names: file and folder names can "
        "name people; --keep-names keeps the relative paths) in its own format (JPEG at quality 95, PNG, ...; no "
        "metadata), with OUTPUT/METHOD/photos.csv (a status per input file; which input became which photo is in the "
        "private work folder's photos.csv). --crops writes the aligned "
        "anonymised faces instead (OUTPUT/METHOD/<split>/<face_id>.png, as the paper's methods output them). Stage 01 "
        "(detect, align, segment, 478 landmarks) runs into a private work folder outside OUTPUT (it holds the "
        "original faces; --work-dir). INPUT may also be a finished stage-01 folder (with faces.csv and config.json), "
        "whose faces are anonymised as crops. Inputs are only read; a rerun skips what was made from the same input "
        "bytes and redoes a replaced photo.",
        epilog="Exit status: 0 when every photo was written with every face replaced (or every face anonymised, for "
        "crops); 3 when some photo was not written or not every face in it was anonymised (no_face, residual_face, "
        "residual_obscured, incomplete, unreadable, ...: each is named on the terminal and in photos.csv); 2 for bad "
        "options or inputs; 1 for an unexpected error. "
        "GANonymization uses the authors' published generator by default (25 epochs, "
        f"{default_generator_checkpoint()}: 'python -m ganon_utils fetch-weights ganonymization_publication' puts it "
        "there), or --checkpoint: their 50-epoch one (fetch-weights ganonymization_demo) or one trained with "
        "notebooks/02_train_pix2pix.ipynb.",
    )
    parser.add_argument("input", type=Path, help="a photo, a folder of photos (recursive) or a stage-01 folder")
    parser.add_argument("output", type=Path, help="output folder")
    parser.add_argument(
        "--method",
        required=True,
        help="ganonymization, pixel8, pixel16, blur9, blur17 (any pixel<N> / blur<odd K>), "
        "or the name of an external method given with --external-dir",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help=f"generator checkpoint for ganonymization (default: {default_generator_checkpoint()})",
    )
    parser.add_argument(
        "--crops",
        action="store_true",
        help="write the aligned anonymised faces (OUTPUT/METHOD/<split>/<face_id>.png + manifest.csv) "
        "instead of the whole photos",
    )
    parser.add_argument("--paste-back", action="store_true", help=argparse.SUPPRESS)  # the default for photos now
    parser.add_argument(
        "--residual",
        choices=RESIDUAL_ACTIONS,
        default="fail",
        help="a face a second detector still finds in an anonymised photo: fail (default: the photo is "
        "not written), blur or pixelate it (the photo is written, status residual_obscured)",
    )
    parser.add_argument(
        "--residual-detector",
        default=RESIDUAL_DETECTOR,
        choices=sorted(DETECTORS),
        help=f"the second, independent detector that looks for residual faces ({RESIDUAL_DETECTOR})",
    )
    parser.add_argument(
        "--keep-names",
        action="store_true",
        help="write each photo at its relative path, with its name (default: photo_000001.<ext>, ... "
        "in input order, numbers kept across runs), and the input paths in OUTPUT/METHOD/photos.csv",
    )
    parser.add_argument("--neutral-names", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="private folder for the intermediates, which hold the ORIGINAL faces (default: under "
        "$GANON_CACHE_DIR or ~/.cache/ganon_utils/anonymize/, one per output folder; never inside OUTPUT)",
    )
    parser.add_argument("--batch-size", type=int_at_least(1), default=16, help="faces per generator call (16)")
    parser.add_argument("--device", type=device_name, default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--precision",
        choices=sorted(PRECISIONS),
        default="fp32",
        help="generator arithmetic: fp32 (reference) or bf16 autocast (about 2x faster on CPUs "
        "with bf16 and on GPUs; faces differ by a few grey levels)",
    )
    compile_choice = parser.add_mutually_exclusive_group()
    compile_choice.add_argument(
        "--compile",
        dest="compile",
        action="store_const",
        const=True,
        default=AUTO,
        help="always torch.compile the generator with frozen weights (about 2x faster on the "
        "CPU after a one-time compilation of 10-60 s). Default: compile on the CPU when at "
        f"least {AUTO_COMPILE_MIN_FACES} faces are to be made and a C++ compiler is there",
    )
    compile_choice.add_argument(
        "--no-compile",
        dest="compile",
        action="store_const",
        const=False,
        help="never compile (the generator runs eager; the same faces)",
    )
    parser.add_argument(
        "--image-size",
        type=int_at_least(1),
        default=None,
        help="generator side (default: the checkpoint's training size, else the face size)",
    )
    parser.add_argument(
        "--external-dir",
        type=Path,
        default=None,
        help="folder of faces made by an external method (DeepPrivacy2, CIAGAN, ...), named <face_id>.<image suffix>",
    )
    parser.add_argument(
        "--replace-stale",
        action="store_true",
        help="if OUTPUT/METHOD was made with other settings (e.g. another checkpoint), delete it "
        "and start afresh instead of stopping",
    )
    add_stage_arguments(parser)  # stage 01 options, as for 'python -m ganon_utils preprocess'
    parser.add_argument(
        "--workers", type=int_at_least(0), default=0, help="Dask worker processes for stage 01 (0 = in this process; default 0)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def is_preprocessed_folder(path: Path) -> bool:
    """True for a finished stage-01 folder (faces.csv and config.json)."""
    return path.is_dir() and (path / "faces.csv").is_file() and (path / "config.json").is_file()


def cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    set_verbose(args.verbose)
    if not args.input.exists():
        return fail(f"input {args.input} does not exist")
    checkpoint = args.checkpoint
    if args.method == GANONYMIZATION and checkpoint is None:
        checkpoint = default_generator_checkpoint()
    if args.method == GANONYMIZATION and not checkpoint.is_file():
        return fail(missing_checkpoint_message(checkpoint))
    problem = input_output_problem(args.input, args.output)
    if problem:
        return fail(problem)
    input_path, output_dir = args.input.resolve(), args.output.resolve()
    common = dict(
        checkpoint=checkpoint if args.method == GANONYMIZATION else None, batch_size=args.batch_size, device=args.device,
        external_dir=args.external_dir, image_size=args.image_size, replace_stale=args.replace_stale,
        progress=not args.no_progress, precision=args.precision, compile=args.compile,
    )  # fmt: skip
    try:
        if is_preprocessed_folder(input_path):
            faces, photos = anonymize_preprocessed(input_path, output_dir, args.method, **common), None
            faces_dir = output_dir / args.method
        else:
            result = anonymize_photos(
                input_path, output_dir, args.method, output="crops" if args.crops else "photos", work_dir=args.work_dir,
                preprocess_config=config_from_arguments(args), n_workers=args.workers, residual=args.residual,
                residual_detector=args.residual_detector, keep_names=args.keep_names, **common,
            )  # fmt: skip
            faces, photos, faces_dir = result.faces, result.photos, result.crops_dir
            print(f"intermediates (the original faces; delete when done): {result.work_dir}")
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        return fail(str(error))
    print_summary(faces, photos, faces_dir, output_dir / args.method, crops=photos is None)
    return exit_status(faces, photos)


EXIT_OK, EXIT_NOT_ALL_ANONYMISED = 0, 3


def exit_status(faces, photos) -> int:
    """0 when everything was anonymised (every photo ``ok``; for crops, no face without an anonymised image), else 3."""
    if photos is not None:
        return EXIT_OK if len(photos) and (photos["status"] == "ok").all() else EXIT_NOT_ALL_ANONYMISED
    return EXIT_OK if len(faces) and faces["status"].isin(ANONYMIZED_STATUSES).all() else EXIT_NOT_ALL_ANONYMISED


def print_summary(faces, photos, faces_dir: Path, method_dir: Path, *, crops: bool) -> None:
    """What was written where, with the status counts; photos that were not written are named."""
    print(f"{len(faces)} faces anonymised -> {faces_dir}" if crops else f"{len(faces)} faces found")
    for status, count in faces["status"].value_counts().items():
        print(f"  {status:<14} {count}")
    if photos is not None:
        written = photos[photos["photo_path"] != ""]
        print(f"{len(written)} of {len(photos)} photos written to {method_dir}")
        for status, count in photos["status"].value_counts().items():
            print(f"  {status:<14} {count}")
        attention = photos[photos["status"] != "ok"]
        for row in attention.head(20).itertuples(index=False):
            what = "not written" if not row.photo_path else "written, NOT fully anonymised"
            print(f"  {what}: {row.source} ({row.status}{': ' + row.message if row.message else ''})")
        if len(attention) > 20:
            print(f"  ... and {len(attention) - 20} more: see {method_dir / PHOTOS_TABLE}")
        if len(attention):
            print(f"WARNING: {len(attention)} of {len(photos)} photos were not written or are not fully anonymised (see above)")
        print(f"table: {method_dir / PHOTOS_TABLE}")
    else:
        print(f"manifest: {faces_dir / 'manifest.csv'}")
