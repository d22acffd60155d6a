"""Command-line arguments checked where they are read: one clear line and exit code 2 for a bad value.

Every command builds its parser from :class:`CommandParser`, whose errors are a single line on stderr
(``python -m ganon_utils anonymize: error: argument --size: must be an integer >= 32, got '0'``) instead of
argparse's usage block, and takes its numbers through the typed checks below, so a value such as ``--workers -1``
(which made Dask wait forever) or ``--margin nan`` is refused before any work starts.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

EXIT_BAD_ARGUMENTS = 2


class CommandParser(argparse.ArgumentParser):
    """argparse with one-line errors on stderr (exit 2) that point to ``--help``."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_ARGUMENTS)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def float_at_least(minimum: float) -> Callable[[str], float]:
    """An argparse type: a finite number >= ``minimum`` (``nan`` and ``inf`` are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number >= {minimum:g}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a finite number >= {minimum:g}, got {text!r}")
        return value

    parse.__name__ = f"number >= {minimum:g}"
    return parse


def device_name(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` that this machine has."""
    if text == "auto":
        return text
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: torch sees no CUDA device here; use cpu or auto")
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def output_folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot be an output folder (it, or a folder above it, is a file), or None."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                return f"{path} cannot be an output folder: {candidate} is a file"
            return None
    return None


def input_output_problem(input_path: Path, output_path: Path) -> str | None:
    """Why ``output_path`` cannot receive the outputs of ``input_path``: it is a file or under one, or it lies
    inside the input folder (a rerun would read its own outputs); None when it can."""
    problem = output_folder_problem(output_path)
    if problem:
        return problem
    source, target = input_path.resolve(), output_path.resolve()
    if source.is_dir() and (target == source or source in target.parents):
        return f"the output folder {output_path} must not be inside the input folder {input_path}"
    return None
