"""Writing a report's figures and tables under results/<notebook>/ (each file atomically)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ganon_utils.atomic_files import atomic_path, write_csv_atomic, write_text_atomic
from ganon_utils.stages import PathLike


def save_figure(figure: Figure, path_stem: PathLike, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``figure`` as ``path_stem.<format>`` for each format."""
    written = []
    for fmt in formats:
        path = Path(f"{path_stem}.{fmt}")
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format=fmt, dpi=150)
        written.append(path)
    return written


TABLE_DIGITS = 4
"""Decimals of floats in the Markdown and LaTeX copies of a table (the CSV keeps full precision)."""


def format_cell(value: object, digits: int = TABLE_DIGITS) -> str:
    """A table cell as text: empty for missing values, floats to ``digits`` decimals (tiny ones, e.g. p-values,
    in scientific notation so they do not read as 0)."""
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return ""
        return f"{value:.3e}" if value != 0 and abs(value) < 0.5 * 10**-digits else f"{value:.{digits}f}"
    return "" if value is None or value is pd.NA else str(value)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (index not included; floats to :data:`TABLE_DIGITS` decimals)."""
    cells = [[str(c) for c in df.columns]] + [[format_cell(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines) + "\n"


def save_table(df: pd.DataFrame, path_stem: PathLike) -> list[Path]:
    """Save ``df`` as CSV (full precision), Markdown and LaTeX (floats rounded) next to each other."""
    stem = Path(path_stem)
    write_csv_atomic(stem.with_suffix(".csv"), df)
    write_text_atomic(stem.with_suffix(".md"), markdown_table(df))
    write_text_atomic(stem.with_suffix(".tex"), df.to_latex(index=False, escape=True, float_format=format_cell))
    return [stem.with_suffix(s) for s in (".csv", ".md", ".tex")]


def evenly_spaced_rows(table: pd.DataFrame, max_rows: int = 12) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``table`` for display: the first, the last and evenly spaced ones between
    (a 60-epoch training log shown as 12 rows; the saved table keeps every row)."""
    if len(table) <= max_rows:
        return table
    positions = np.unique(np.linspace(0, len(table) - 1, max_rows).round().astype(int))
    return table.iloc[positions]


def set_epoch_axis(ax: Axes) -> None:
    """Label the x axis "epoch" with whole-number ticks (a 4-epoch run shows 1 2 3 4, not 1.0 1.5 ...)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def wrap_label(text: str, width: int = 22) -> str:
    """``text`` broken into lines of at most ``width`` characters at ``_``, ``-`` or spaces (long face ids as
    figure labels); a part longer than ``width`` is split where it must. Nothing is cut off."""
    lines: list[str] = []
    current = ""
    for part in re.split(r"(?<=[_\- ])", text):
        while len(part) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(part[:width])
            part = part[width:]
        if len(current) + len(part) > width and current:
            lines.append(current)
            current = ""
        current += part
    if current:
        lines.append(current)
    return "\n".join(lines)


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def show_figure(figure: Figure, dpi: int = 100) -> None:
    """Display a (pyplot-free) figure inline as a PNG, so the HTML report embeds it."""
    from IPython.display import Image, display

    display(Image(data=figure_png(figure, dpi)))
