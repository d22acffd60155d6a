"""``python -m ganon_utils anonymize INPUT OUTPUT --method M [options]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganon_utils.anonymize.pipeline import PREPROCESS_FOLDER, anonymize_photos, anonymize_preprocessed
from ganon_utils.anonymize.synthesis import GANONYMIZATION, missing_checkpoint_message
from ganon_utils.devices import PRECISIONS
from ganon_utils.preprocess.cli import add_stage_arguments, config_from_arguments



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ganon_utils anonymize",
        description="Anonymise the faces of a photo or a folder of photos. Stage 01 (detect, align, segment, "
        f"478 landmarks) runs into OUTPUT/{PREPROCESS_FOLDER}; the anonymised faces go to OUTPUT/METHOD/<split>/"
        "<face_id>.png with OUTPUT/METHOD/manifest.csv (a status per face). INPUT may also be a finished "
        "stage-01 folder (with faces.csv and config.json), which is used as is. Outputs carry no metadata of "
        "the originals; inputs are only read; a rerun skips finished faces.",
        epilog="GANonymization needs a generator checkpoint: the authors' published ones (25 epochs: "
        "https://mediastore.rz.uni-augsburg.de/get/NsLjQYey65/ , 50 epochs: "
        "https://mediastore.rz.uni-augsburg.de/get/Sfle_etB1D/ , as stated in the authors' README) or one trained "
        "with notebooks/02_train_pix2pix.ipynb.",
    )
    parser.add_argument("input", type=Path, help="a photo, a folder of photos (recursive) or a stage-01 folder")
    parser.add_argument("output", type=Path, help="output folder")
    parser.add_argument("--method", required=True,
                        help="ganonymization, pixel8, pixel16, blur9, blur17 (any pixel<N> / blur<odd K>), "
                        "or the name of an external method given with --external-dir")
    parser.add_argument("--checkpoint", type=Path, default=None, help="generator checkpoint (ganonymization)")
    parser.add_argument("--paste-back", action="store_true",
                        help="also write each photo with its faces replaced (OUTPUT/METHOD/photos/); "
                        "an addition of this package, not part of the paper")
    parser.add_argument("--batch-size", type=int, default=16, help="faces per generator call (16)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="fp32",
                        help="generator arithmetic: fp32 (reference) or bf16 autocast (about 2x faster on CPUs "
                        "with bf16 and on GPUs; faces differ by a few grey levels)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the generator with frozen weights (about 2x faster on the CPU after "
                        "a one-time compilation of 10-60 s; worth it from about a hundred faces)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="generator side (default: the checkpoint's training size, else the face size)")
    parser.add_argument("--external-dir", type=Path, default=None,
                        help="folder of faces made by an external method (DeepPrivacy2, CIAGAN, ...), "
                        "named <face_id>.<image suffix>")
    parser.add_argument("--replace-stale", action="store_true",
                        help="if OUTPUT/METHOD was made with other settings (e.g. another checkpoint), delete it "
                        "and start afresh instead of stopping")
    add_stage_arguments(parser)  # stage 01 options, as for 'python -m ganon_utils preprocess'
    parser.add_argument("--workers", type=int, default=0,
                        help="Dask worker processes for stage 01 (0 = in this process; default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def is_preprocessed_folder(path: Path) -> bool:
    """True for a finished stage-01 folder (faces.csv and config.json)."""
    return path.is_dir() and (path / "faces.csv").is_file() and (path / "config.json").is_file()


def cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not args.input.exists():
        print(f"error: input {args.input} does not exist", file=sys.stderr)
        return 2
    if args.method == GANONYMIZATION and (args.checkpoint is None or not args.checkpoint.is_file()):
        print(f"error: {missing_checkpoint_message(args.checkpoint)}", file=sys.stderr)
        return 2
    input_path, output_dir = args.input.resolve(), args.output.resolve()
    if input_path.is_dir() and (output_dir == input_path or input_path in output_dir.parents):
        print(f"error: the output folder {args.output} must not be inside the input folder", file=sys.stderr)
        return 2
    common = dict(
        checkpoint=args.checkpoint, batch_size=args.batch_size, device=args.device, external_dir=args.external_dir,
        image_size=args.image_size, replace_stale=args.replace_stale, progress=not args.no_progress,
        precision=args.precision, compile=args.compile,
    )  # fmt: skip
    try:
        if is_preprocessed_folder(input_path):
            if args.paste_back:
                print("error: --paste-back needs the photos as INPUT, not a stage-01 folder", file=sys.stderr)
                return 2
            faces, photos = anonymize_preprocessed(input_path, output_dir, args.method, **common), None
        else:
            config = config_from_arguments(args)
            result = anonymize_photos(
                input_path, output_dir, args.method, paste_back=args.paste_back, preprocess_config=config,
                n_workers=args.workers, **common,
            )  # fmt: skip
            faces, photos = result.faces, result.photos
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(faces)} faces -> {output_dir / args.method}")
    for status, count in faces["status"].value_counts().items():
        print(f"  {status:<14} {count}")
    if photos is not None:
        written = int((photos["photo_path"] != "").sum())
        print(f"{written} of {len(photos)} photos written to {output_dir / args.method / 'photos'}")
        for status, count in photos["status"].value_counts().items():
            print(f"  {status:<14} {count}")
    print(f"manifest: {output_dir / args.method / 'manifest.csv'}")
    return 0
