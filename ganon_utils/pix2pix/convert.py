"""``python -m ganon_utils convert-checkpoint SOURCE TARGET --trust-source``.

A generator checkpoint that holds pickled Python objects is refused everywhere in the package, because unpickling
can run code stored in the file. A user who knows where such a file comes from converts it once with this command
into plain tensors (:func:`~ganon_utils.pix2pix.checkpoints.convert_trusted_checkpoint`) and uses the result.
"""

from __future__ import annotations

from pathlib import Path

from ganon_utils.cli_arguments import CommandParser, input_output_problem
from ganon_utils.pix2pix.checkpoints import convert_trusted_checkpoint
from ganon_utils.preprocess.cli import fail


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="python -m ganon_utils convert-checkpoint",
        description="Rewrite a generator checkpoint that holds pickled Python objects as plain tensors, which the "
        "package loads with torch.load(weights_only=True). Unpickling SOURCE can run code stored in it: convert only "
        "files whose origin you trust.",
    )
    parser.add_argument("source", type=Path, help="the checkpoint to convert (only read)")
    parser.add_argument("target", type=Path, help="where the converted checkpoint goes")
    parser.add_argument("--trust-source", action="store_true", required=True,
                        help="confirm that SOURCE comes from a source you trust (required)")  # fmt: skip
    return parser


def cli(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not args.source.is_file():
        return fail(f"checkpoint {args.source} does not exist")
    problem = input_output_problem(args.source, args.target.parent)
    if problem:
        return fail(problem)
    if args.target.resolve() == args.source.resolve():
        return fail("TARGET must be another file than SOURCE (the source stays as it is)")
    try:
        written = convert_trusted_checkpoint(args.source, args.target)
    except Exception as error:  # any failure of a foreign file: one line, no traceback
        return fail(f"could not convert {args.source}: {type(error).__name__}: {error}")
    print(f"converted: {written} (loads weights-only)")
    return 0
