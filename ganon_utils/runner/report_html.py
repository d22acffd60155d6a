"""An executed notebook as an HTML report that reads offline like a paper's supplement.

Three things differ from nbconvert's stock ``lab`` export:

- no remote script: the template (``templates/ganon_report``) drops require.js and mermaid, which the notebooks
  never use, and MathJax is served from ``results/_static/mathjax``, copied from the ``jupyter-server-mathjax``
  package, so formulas render without a network;
- the parameters appear once: papermill leaves the notebook's defaults cell and its own injected cell; the report
  shows one cell, the defaults cell with every injected value in place (comments kept);
- the page has a reading width and tables that scroll instead of overflowing it.
"""

from __future__ import annotations

import ast
import shutil
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ganon_utils.atomic_files import write_text_atomic

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
TEMPLATE_NAME = "ganon_report"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_FOLDER = "_static"
MATHJAX_FOLDER = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
MERGED_HEADER = "# Parameters of this run: the notebook's defaults with the values the run passed in (papermill)"


# --- one parameters cell ---------------------------------------------------------------------------


def _assignment_name(node: ast.stmt) -> str | None:
    """The single name a top-level ``x = ...`` / ``x: T = ...`` statement assigns, else None."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id
    return None


def _assignments(source: str) -> dict[str, str]:
    """``name -> source text of its assignment`` for the top-level single-name assignments of ``source``."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        name = _assignment_name(node)
        segment = ast.get_source_segment(source, node) if name else None
        if name and segment:
            found[name] = segment
    return found


def merged_parameters_source(defaults: str, injected: str) -> str:
    """The defaults cell with each assignment the injected cell overrides replaced by the injected one.

    Each replaced line keeps its trailing comment (what the parameter means); injected names the defaults do not
    assign are appended. Either cell that is not plain Python leaves the defaults cell as it is.
    """
    try:
        overrides = _assignments(injected)
        tree = ast.parse(defaults)
    except SyntaxError:
        return defaults
    lines = defaults.splitlines()
    replacements: dict[int, tuple[int, str]] = {}  # first line (0-based) -> (last line, new text)
    for node in tree.body:
        name = _assignment_name(node)
        if name in overrides and node.end_lineno is not None and node.end_col_offset is not None:
            trailing = lines[node.end_lineno - 1][node.end_col_offset :]
            replacements[node.lineno - 1] = (node.end_lineno - 1, overrides.pop(name) + trailing)
    merged: list[str] = []
    index = 0
    while index < len(lines):
        if index in replacements:
            last, text = replacements[index]
            merged.append(text)
            index = last + 1
            continue
        merged.append(lines[index])
        index += 1
    if merged and merged[0].lstrip().startswith("#"):
        merged[0] = MERGED_HEADER
    else:
        merged.insert(0, MERGED_HEADER)
    merged += list(overrides.values())
    return "\n".join(merged)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def with_one_parameters_cell(nb: Any) -> Any:
    """``nb`` (nbformat) with papermill's injected cell folded into the defaults cell; unchanged without one."""
    defaults = [i for i, cell in enumerate(nb.cells) if PARAMETERS_TAG in _tags(cell)]
    injected = [i for i, cell in enumerate(nb.cells) if INJECTED_TAG in _tags(cell)]
    if len(defaults) != 1 or len(injected) != 1:
        return nb
    cell = nb.cells[defaults[0]]
    cell.source = merged_parameters_source(cell.source, nb.cells[injected[0]].source)
    del nb.cells[injected[0]]
    return nb


# --- offline maths -----------------------------------------------------------------------------------


def mathjax_source_dir() -> Path | None:
    """MathJax 2's files as the ``jupyter-server-mathjax`` package ships them, or None when it is not installed."""
    spec = find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "MathJax.js").is_file() else None


def install_mathjax(results_root: Path) -> str | None:
    """Copy MathJax into ``results_root/_static/mathjax`` (once per package version); its URL relative to a report
    in ``results_root``, or None when the package is missing (formulas then show as TeX)."""
    source = mathjax_source_dir()
    if source is None:
        return None
    target = Path(results_root) / STATIC_FOLDER / MATHJAX_FOLDER
    stamp = target / ".version"
    version = metadata.version("jupyter-server-mathjax")
    if not (stamp.is_file() and stamp.read_text().strip() == version and (target / "MathJax.js").is_file()):
        staging = target.with_name(f".{MATHJAX_FOLDER}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        (staging / ".version").write_text(version + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return f"{STATIC_FOLDER}/{MATHJAX_FOLDER}/MathJax.js?config={MATHJAX_CONFIG}"


# --- export ------------------------------------------------------------------------------------------


def report_exporter(mathjax_url: str | None) -> Any:
    """nbconvert's HTML exporter with the report template, images embedded, MathJax from ``mathjax_url``."""
    from nbconvert import HTMLExporter

    options: dict[str, Any] = {"template_name": TEMPLATE_NAME, "extra_template_basedirs": [str(TEMPLATES_DIR)]}
    if mathjax_url:
        options["mathjax_url"] = mathjax_url
    return HTMLExporter(embed_images=True, **options)


def export_html(executed: Path, html_path: Path) -> Path:
    """Render an executed notebook as ``html_path`` (written atomically), MathJax installed beside it."""
    import nbformat

    nb = with_one_parameters_cell(nbformat.read(str(executed), as_version=4))
    body, _ = report_exporter(install_mathjax(Path(html_path).parent)).from_notebook_node(nb)
    write_text_atomic(Path(html_path), body)
    return Path(html_path)
