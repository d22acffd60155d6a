"""What a notebook leaves for the results index: its headline result, a thumbnail or two, the backends.

Each notebook ends with one :func:`write_stage_summary` call, which writes ``<results_dir>/summary.json``; the
index page (:mod:`ganon_utils.runner.index_page`) shows it under the stage's title. The runner deletes the file
before it executes the notebook, so a stage that failed never shows the headline of an earlier run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ganon_utils.atomic_files import write_text_atomic
from ganon_utils.stages import PathLike

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class SummaryTable:
    """A small table for the index: a caption, column names and rows of plain values."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class StageSummary:
    """One stage's entry on the index page (figure paths relative to the stage's results folder)."""

    headline: str
    tables: tuple[SummaryTable, ...] = ()
    figures: tuple[str, ...] = ()
    backends: Mapping[str, str] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """A JSON-safe cell: numbers as float/int, missing values as None, everything else as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, bool | int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    return str(value)


def _inside(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` (either may be relative to the working directory)."""
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def summary_table(caption: str, table: pd.DataFrame) -> SummaryTable:
    """``table`` (its index dropped; reset it first to keep it) as a :class:`SummaryTable`."""
    rows = tuple(tuple(_plain(v) for v in row) for row in table.itertuples(index=False))
    return SummaryTable(caption, tuple(str(c) for c in table.columns), rows)


def write_stage_summary(
    results_dir: PathLike,
    headline: str,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    figures: Sequence[PathLike] = (),
    backends: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``results_dir/summary.json`` for the index page.

    Args:
        results_dir: the notebook's results folder.
        headline: one or two sentences: what the stage found or made.
        tables: caption -> a small table (a handful of rows: the headline numbers, e.g. Table 1 beside the paper).
        figures: one or two thumbnails, paths inside ``results_dir`` (PNG).
        backends: the models and settings that made the result (the report's provenance block).
    """
    folder = Path(results_dir)
    relative = [_inside(Path(figure), folder) for figure in figures]
    summary = StageSummary(
        headline=headline,
        tables=tuple(summary_table(caption, table) for caption, table in (tables or {}).items()),
        figures=tuple(relative),
        backends={str(k): str(v) for k, v in (backends or {}).items()},
    )
    payload = {
        "headline": summary.headline,
        "tables": [{"caption": t.caption, "columns": list(t.columns), "rows": [list(r) for r in t.rows]} for t in summary.tables],
        "figures": list(summary.figures),
        "backends": dict(summary.backends),
    }
    path = folder / SUMMARY_FILE
    write_text_atomic(path, json.dumps(payload, indent=1, allow_nan=False) + "\n")
    return path


def read_stage_summary(results_dir: PathLike) -> StageSummary | None:
    """The summary a notebook wrote into ``results_dir``, or None when there is none (or it is unreadable)."""
    path = Path(results_dir) / SUMMARY_FILE
    try:
        payload = json.loads(path.read_text())
        tables = tuple(
            SummaryTable(t["caption"], tuple(t["columns"]), tuple(tuple(r) for r in t["rows"])) for t in payload.get("tables", [])
        )
        return StageSummary(payload["headline"], tables, tuple(payload.get("figures", [])), dict(payload.get("backends", {})))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_stage_summary(results_dir: PathLike) -> None:
    """Delete a stage's summary before the notebook runs again."""
    (Path(results_dir) / SUMMARY_FILE).unlink(missing_ok=True)
