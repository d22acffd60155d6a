"""``results/index.html``: the overview a reader opens first, then every file the run made.

Per stage: its title (the notebook's first heading), whether it ran and how long it took, links to its report,
the headline result the notebook left (:mod:`ganon_utils.runner.stage_summary`: a sentence, a small table such as
Table 1 beside the paper's values, one or two thumbnails) and the backends that made it. For the demo profile the
page says first that its numbers are not comparable to the paper's. The complete list of tables and figures follows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from ganon_utils.atomic_files import write_text_atomic
from ganon_utils.progress import format_seconds
from ganon_utils.provenance import DEMO_NOTICE
from ganon_utils.report_files import format_cell
from ganon_utils.runner.stage_summary import StageSummary, read_stage_summary

TABLE_SUFFIXES = (".csv", ".md", ".tex")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
INDEX_DIGITS = 3
"""Decimals of the numbers in the index's headline tables (the reports and table files keep more)."""

STYLE = """
body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.45;color:#1f2328}
h1{margin-bottom:.2em}h2{margin:1.6em 0 .3em;font-size:1.25em}
.meta{color:#57606a;margin:.2em 0}.ok{color:#1a7f37;font-weight:600}.failed,.incomplete{color:#cf222e;font-weight:600}
.not-run{color:#6e7781;font-weight:600}
.notice{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.6em 1em;margin:1em 0}
.stage{border-top:1px solid #d0d7de;padding-top:.4em}
.stage-body{display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap}
.stage-text{flex:1 1 30em;min-width:20em;overflow-x:auto}.thumbs{flex:0 1 26em}
.thumbs img{max-width:100%;max-height:16em;border:1px solid #d0d7de;margin:0 0 .4em}
table{border-collapse:collapse;font-size:.88em;margin:.4em 0 .8em}caption{text-align:left;font-weight:600;padding:.2em 0}
td,th{border:1px solid #d0d7de;padding:.15em .5em;text-align:right}td:first-child,th:first-child{text-align:left}
.backends{font-size:.88em;color:#57606a}.files li{margin:.1em 0}.files h3{font-size:1em;margin:.8em 0 .2em}
code{font-size:.92em}
"""


@dataclass(frozen=True)
class ReportEntry:
    """What results/ holds for one notebook (paths relative to the results folder)."""

    stem: str
    report: str | None
    executed: str | None
    status: str
    profile: str | None
    finished: str | None
    tables: tuple[str, ...]
    figures: tuple[str, ...]
    title: str | None = None
    seconds: float | None = None
    summary: StageSummary | None = None


def _artifacts(results_root: Path, stem: str, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    folder = results_root / stem
    if not folder.is_dir():
        return ()
    found = [
        p.relative_to(results_root).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return tuple(sorted(found))


def notebook_title(notebook: Path) -> str | None:
    """The first Markdown heading of a notebook (``# 01 · Preprocessing: ...``) without its ``#``, or None."""
    import nbformat

    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except (OSError, ValueError):
        return None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip() or None
    return None


def report_entry(results_root: Path, stem: str, notebook: Path | None = None) -> ReportEntry:
    """Collect the report, executed notebook, summary, tables and figures of ``stem``.

    The status (ok, failed, incomplete, not run) and the duration come from the metadata papermill stores in the
    executed notebook, so the index is right for notebooks run earlier too."""
    import nbformat

    report = results_root / f"{stem}.html"
    executed = results_root / "notebooks" / f"{stem}.ipynb"
    status, profile, finished, seconds = "not run", None, None, None
    if executed.is_file():
        nb = nbformat.read(str(executed), as_version=4)
        meta = nb.metadata.get("papermill", {})
        cell_states = [c.get("metadata", {}).get("papermill", {}).get("status") for c in nb.cells if c.cell_type == "code"]
        if meta.get("exception"):
            status = "failed"
        elif any(state != "completed" for state in cell_states):
            status = "incomplete"  # interrupted: some cells never ran
        else:
            status = "ok"
        profile = (meta.get("parameters") or {}).get("profile_name")
        finished = meta.get("end_time")
        seconds = float(meta["duration"]) if isinstance(meta.get("duration"), int | float) else None
    return ReportEntry(
        stem=stem,
        report=report.name if report.is_file() else None,
        executed=executed.relative_to(results_root).as_posix() if executed.is_file() else None,
        status=status,
        profile=profile,
        finished=finished,
        tables=_artifacts(results_root, stem, TABLE_SUFFIXES),
        figures=_artifacts(results_root, stem, FIGURE_SUFFIXES),
        title=notebook_title(notebook) if notebook is not None else None,
        seconds=seconds,
        summary=read_stage_summary(results_root / stem) if status == "ok" else None,
    )


def _link(href: str, text: str | None = None) -> str:
    return f'<a href="{html.escape(quote(href))}">{html.escape(text or href)}</a>'


def inline_markdown(text: str) -> str:
    """``**bold**`` and ```code``` of a one-paragraph Markdown text as HTML, everything else escaped."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return html.escape(format_cell(value, INDEX_DIGITS))
    return "" if value is None else html.escape(str(value))


def _table_html(caption: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _stage_html(entry: ReportEntry) -> str:
    css = entry.status.replace(" ", "-")
    meta = [f'<span class="{css}">{html.escape(entry.status)}</span>']
    if entry.seconds is not None:
        meta.append(f"took {format_seconds(entry.seconds)}")
    if entry.report:
        meta.append(_link(entry.report, "report"))
    if entry.executed:
        meta.append(_link(entry.executed, "executed notebook"))
    if entry.profile:
        meta.append(f"profile {html.escape(str(entry.profile))}")
    title = entry.title or entry.stem
    parts = [f'<section class="stage" id="{html.escape(entry.stem)}"><h2>{html.escape(title)}</h2>',
             f'<p class="meta">{" &middot; ".join(meta)}</p>']  # fmt: skip
    summary = entry.summary
    if summary is None:
        note = "no summary: the notebook did not finish in this run" if entry.status != "not run" else "not run yet"
        parts.append(f'<p class="meta">{html.escape(note)}</p></section>')
        return "".join(parts)
    text = [f"<p>{inline_markdown(summary.headline)}</p>"]
    text += [_table_html(t.caption, t.columns, t.rows) for t in summary.tables]
    if summary.backends:
        listed = "; ".join(f"{html.escape(k)}: <code>{html.escape(v)}</code>" for k, v in summary.backends.items())
        text.append(f'<p class="backends">Made with {listed}</p>')
    thumbs = "".join(
        f'<a href="{html.escape(quote(entry.stem + "/" + f))}"><img src="{html.escape(quote(entry.stem + "/" + f))}" '
        f'alt="{html.escape(f)}" loading="lazy"></a>'
        for f in summary.figures
    )
    parts.append(f'<div class="stage-body"><div class="stage-text">{"".join(text)}</div>')
    parts.append(f'<div class="thumbs">{thumbs}</div></div></section>' if thumbs else "</div></section>")
    return "".join(parts)


def _grouped_links(paths: Sequence[str]) -> list[str]:
    """One item per file stem with a link per format: ``tables/table1 (csv · md · tex)``."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(path.rsplit(".", 1)[0], []).append(path)
    items = []
    for stem, members in groups.items():
        shown = stem.split("/", 1)[1] if "/" in stem else stem
        formats = " &middot; ".join(_link(m, m.rsplit(".", 1)[-1]) for m in members)
        items.append(f"<li>{html.escape(shown)} ({formats})</li>")
    return items


def _files_html(entry: ReportEntry) -> str:
    parts = [f"<h3>{html.escape(entry.stem)}</h3><ul>"]
    if entry.report:
        parts.append(f"<li>report: {_link(entry.report)}</li>")
    if entry.executed:
        parts.append(f"<li>executed notebook: {_link(entry.executed)}</li>")
    parts += _grouped_links(entry.tables) + _grouped_links(entry.figures)
    parts.append("</ul>")
    return "".join(parts)


def index_html(entries: Sequence[ReportEntry], profile_name: str, created_utc: str, commit: str, dirty: bool) -> str:
    """The results/index.html page: the overview per stage, then every report, table and figure."""
    code = commit + (" (with uncommitted changes)" if dirty else "")
    total = sum(e.seconds for e in entries if e.seconds is not None)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>GANonymization results</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>GANonymization results</h1>",
        f'<p class="meta">Profile <strong>{html.escape(profile_name)}</strong> &middot; generated {html.escape(created_utc)} UTC'
        f" &middot; git commit <code>{html.escape(code)}</code>"
        + (f" &middot; the notebooks took {format_seconds(total)}" if total else "")
        + "</p>",
    ]
    if profile_name == "demo":
        parts.append(f'<div class="notice">{inline_markdown(DEMO_NOTICE)}</div>')
    parts.append(
        "<p>Hellmann et al., <em>GANonymization: A GAN-Based Face Anonymization Framework for Preserving Emotional "
        "Expressions</em>, ACM TOMM 2024, reproduced stage by stage. Each stage below names what it does, its headline "
        "result and the models that made it; its report has the figures, tables and code.</p>"
    )
    parts += [_stage_html(entry) for entry in entries]
    parts.append('<section class="files"><h2>All reports, tables and figures</h2>')
    parts += [_files_html(entry) for entry in entries]
    parts.append("</section></body></html>")
    return "\n".join(parts) + "\n"


def write_index(results_root: Path, notebooks: Sequence[Path], profile_name: str) -> Path:
    """Write results/index.html for every notebook in ``notebooks`` (run now or earlier)."""
    from ganon_utils.provenance import git_commit

    commit, dirty = git_commit()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    entries = [report_entry(results_root, nb.stem, nb) for nb in notebooks]
    path = results_root / "index.html"
    write_text_atomic(path, index_html(entries, profile_name, created, commit, dirty))
    return path
