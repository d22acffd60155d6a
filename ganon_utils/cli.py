"""Command line entry point: ``python -m ganon_utils COMMAND ...``.

Each command lives in the module of its stage and exposes ``cli(argv) -> int``;
modules are imported only when their command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo-data": ("ganon_utils.demo_data", "build data/demo/ from registry packages (cached)"),
    "preprocess": ("ganon_utils.preprocess.cli", "detect, align, segment faces and extract 478 landmarks"),
    "train": ("ganon_utils.pix2pix.training", "train pix2pix on landmark -> face pairs from the preprocess stage"),
    "anonymize": ("ganon_utils.anonymize.cli", "anonymise faces with GANonymization or a baseline method"),
    "run": ("ganon_utils.notebooks", "execute notebooks with papermill and render HTML reports"),
    "convert-checkpoint": ("ganon_utils.pix2pix.convert", "rewrite a trusted pickled generator checkpoint as plain tensors"),
    "fetch-weights": ("ganon_utils.fetch_weights", "download the published weight files (list them without a name)"),
}


def _usage() -> str:
    lines = ["usage: python -m ganon_utils COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<14} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run 'python -m ganon_utils COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command's module; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from ganon_utils.library_logs import quiet_python_loggers

    quiet_python_loggers()
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.cli(rest) or 0)
