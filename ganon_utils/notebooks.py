"""Execute the notebooks in order with a profile and render them as HTML reports.

``python -m ganon_utils run`` (what ``./run_all.sh`` calls) runs every ``notebooks/NN_name.ipynb``
in name order with papermill, in the repository root (so relative paths in profiles work), and
writes::

    results/notebooks/<stem>.ipynb   the executed notebook (outputs included)
    results/<stem>.html              the rendered report (figures embedded)
    results/<stem>/                  what the notebook itself writes: tables (csv/md/tex), figures (png/pdf/svg),
                                     summary.json (its headline result for the index)
    results/_static/mathjax/         MathJax, so the reports' formulas render offline
    results/index.html               per stage its headline result, then links to every report, table and figure

Reports are rendered by :mod:`ganon_utils.runner.report_html` and the index by
:mod:`ganon_utils.runner.index_page`. Notebooks run with ``GANON_PROGRESS=lines`` (a line per stage or epoch,
no progress-bar redraws in the reports) unless the variable is set; ``--verbose`` keeps native libraries' logs.

Contract with the notebooks: each has exactly one cell tagged ``parameters`` that defines
``profile_name`` and ``results_dir`` plus every key its profile section sets. A notebook receives
its own profile section, the ``common`` keys it defines, ``profile_name`` and
``results_dir = results/<stem>``. A key the notebook does not define is a profile error reported
before anything runs, so a typo never costs a long run.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganon_utils.cli_arguments import CommandParser
from ganon_utils.library_logs import filtered_native_stderr, set_verbose
from ganon_utils.profiles import Profile, ProfileError, available_profiles, load_profile, notebook_sections, repo_root
from ganon_utils.profiles import notebook_parameters as profile_parameters
from ganon_utils.progress import PROGRESS_ENV
from ganon_utils.readiness import run_problems
from ganon_utils.runner.index_page import write_index
from ganon_utils.runner.report_html import INJECTED_TAG, PARAMETERS_TAG, export_html
from ganon_utils.runner.stage_summary import remove_stage_summary
from ganon_utils.stages import display_path

KERNEL_NAME = "ganon-utils"
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
REQUIRED_PARAMETERS = ("profile_name", "results_dir")


class RunError(ValueError):
    """The run cannot start: unknown notebook, missing parameters cell, undeclared parameter, ..."""


@dataclass(frozen=True)
class NotebookFailure:
    """Where and why a notebook stopped; ``cell`` is 1-based in the source notebook (None: no cell ran)."""

    notebook: Path
    cell: int | None
    ename: str
    evalue: str

    def message(self, root: Path) -> str:
        where = display_path(self.notebook, root) + (f" cell {self.cell}" if self.cell is not None else "")
        evalue = " ".join(self.evalue.split())
        return f"FAILED: {where}: {self.ename}: {evalue}" if evalue else f"FAILED: {where}: {self.ename}"


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of one papermill execution; ``written`` says whether an executed copy was saved."""

    notebook: Path
    executed: Path
    seconds: float
    written: bool
    failure: NotebookFailure | None


# --- which notebooks ---------------------------------------------------------------------------


def list_notebooks(notebooks_dir: Path) -> list[Path]:
    """The ``*.ipynb`` files of ``notebooks_dir`` in name order (hidden files and checkpoints skipped)."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))


def _matches(token: str, notebook: Path) -> bool:
    """``token`` names ``notebook`` by stem, file name or number prefix (``3``, ``03`` -> ``03_x``)."""
    if token in (notebook.stem, notebook.name):
        return True
    prefix = notebook.stem.split("_", 1)[0]
    return prefix.isdigit() and token.isdigit() and int(prefix) == int(token)


def _find(token: str, notebooks: Sequence[Path]) -> list[Path]:
    found = [nb for nb in notebooks if _matches(token, nb)]
    if not found:
        names = ", ".join(nb.stem for nb in notebooks) or "none"
        raise RunError(f"no notebook matches {token!r}; notebooks: {names}")
    return found


def select_notebooks(notebooks: Sequence[Path], only: Sequence[str] | None = None, start: str | None = None) -> list[Path]:
    """The notebooks to run, in notebook order.

    ``only`` keeps the named notebooks; ``start`` keeps the named one and every later one. A name is
    a number prefix (``02``), a stem (``02_train_pix2pix``) or a file name.
    """
    selected = list(notebooks)
    if only:
        wanted = {nb for token in only if token.strip() for nb in _find(token.strip(), notebooks)}
        selected = [nb for nb in selected if nb in wanted]
    if start:
        first = _find(start.strip(), notebooks)[0]
        selected = [nb for nb in selected if nb.name >= first.name]
    if not selected:
        raise RunError("no notebook selected")
    return selected


# --- parameters --------------------------------------------------------------------------------


def parameters_cell_source(notebook: Path) -> str:
    """Source of the notebook's single ``parameters``-tagged cell; RunError when there is not exactly one."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cells = [cell for cell in nb.cells if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise RunError(f"{notebook.name}: needs exactly one cell tagged '{PARAMETERS_TAG}', found {len(cells)}")
    return cells[0].source


def declared_parameters(notebook: Path) -> list[str]:
    """Names the ``parameters`` cell assigns at top level (``x = 1``, ``x: int = 1``, ``a, b = 1, 2``)."""
    source = parameters_cell_source(notebook)
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise RunError(f"{notebook.name}: parameters cell is not plain Python: {error}") from error
    names: list[str] = []

    def collect(target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                collect(element)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                collect(target)
        elif isinstance(node, ast.AnnAssign):
            collect(node.target)
    return list(dict.fromkeys(names))


def results_dir_parameter(results_root: Path, stem: str, root: Path) -> str:
    """``results/<stem>`` relative to the repository root when possible (portable in reports)."""
    return display_path(Path(results_root) / stem, root)


def notebook_parameters(profile: Profile, notebook: Path, results_root: Path, root: Path) -> dict[str, Any]:
    """What papermill injects into ``notebook``: its profile section, the common keys it declares,
    ``profile_name`` and ``results_dir``. Raises RunError for keys the notebook does not declare."""
    stem = notebook.stem
    declared = declared_parameters(notebook)
    missing = [name for name in REQUIRED_PARAMETERS if name not in declared]
    if missing:
        raise RunError(f"{notebook.name}: its parameters cell must define {', '.join(missing)}")
    section = dict((profile.data.get("notebooks") or {}).get(stem) or {})
    undeclared = sorted(set(section) - set(declared))
    if undeclared:
        raise RunError(
            f"profile {profile.name!r} ({profile.path}) sets {', '.join(undeclared)} for {stem}, "
            f"but its parameters cell defines only: {', '.join(declared)}"
        )
    parameters = {key: value for key, value in profile_parameters(profile, stem).items() if key in declared}
    parameters["profile_name"] = profile.name
    parameters["results_dir"] = results_dir_parameter(results_root, stem, root)
    return parameters


# --- execution and rendering -------------------------------------------------------------------


def default_kernel() -> str:
    """``ganon-utils`` when registered (scripts/setup_env.sh does it), else the current Python's ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def kernel_config() -> Any:
    """Kernel-manager settings: encrypt kernel traffic (CurveZMQ) when available, which also silences
    ipykernel's per-kernel 'running over TCP without encryption' warning."""
    import zmq
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto"}}) if zmq.has("curve") else Config()


def source_cell_number(executed: Path, cell_index: int) -> int:
    """1-based position in the source notebook of cell ``cell_index`` of papermill's output
    (which has the injected-parameters cell and papermill's error markers added)."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    cells = [c for c in nb.cells if PAPERMILL_ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
    injected_before = sum(INJECTED_TAG in c.get("metadata", {}).get("tags", []) for c in cells[:cell_index])
    return cell_index - injected_before + 1


def execute_notebook(
    notebook: Path,
    executed: Path,
    parameters: dict[str, Any],
    kernel_name: str,
    cwd: Path,
    log_output: bool = False,
) -> NotebookRun:
    """Run ``notebook`` with papermill; the executed copy replaces ``executed`` atomically, also on failure
    (it then holds the cells that ran and the error)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    executed.parent.mkdir(parents=True, exist_ok=True)
    tmp = executed.with_name(f".{executed.stem}.{os.getpid()}.tmp.ipynb")
    failure: NotebookFailure | None = None
    began = time.perf_counter()
    try:
        # the kernel and its workers inherit this stderr: keep it free of chatter (unless the output is streamed)
        with nullcontext() if log_output else filtered_native_stderr():
            papermill.execute_notebook(
                str(notebook),
                str(tmp),
                parameters=parameters,
                kernel_name=kernel_name,
                language="python",
                cwd=str(cwd),
                progress_bar=False,
                log_output=log_output,
                config=kernel_config(),
            )
    except PapermillExecutionError as error:
        cell = source_cell_number(tmp, error.cell_index) if tmp.is_file() else None
        failure = NotebookFailure(notebook, cell, error.ename, str(error.evalue))
    except Exception as error:  # kernel could not start or died: report it like a cell failure
        failure = NotebookFailure(notebook, None, type(error).__name__, str(error))
    finally:
        written = tmp.is_file()
        if written:
            os.replace(tmp, executed)
    return NotebookRun(notebook, executed, time.perf_counter() - began, written, failure)


# --- the run -------------------------------------------------------------------------------------


def demo_data_dir(root: Path) -> Path:
    """Where the profile set-up ``demo_data`` builds the demo photos."""
    return root / "data" / "demo"


def prepared_paths(profile: Profile, root: Path) -> set[Path]:
    """What :func:`prepare_data` makes before the first notebook, so readiness counts it as present."""
    return {demo_data_dir(root).resolve()} if profile.setup.get("demo_data") else set()


def prepare_data(profile: Profile, root: Path) -> None:
    """Build what the profile's ``setup`` asks for before the first notebook (the demo data set)."""
    if profile.setup.get("demo_data"):
        from ganon_utils.demo_data import build_demo_data

        build_demo_data(demo_data_dir(root), root / "data" / "cache")


def plan_run(profile: Profile, notebooks: Sequence[Path], results_root: Path, root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Parameters for each notebook; every problem of every notebook is reported at once, before running."""
    plan, problems = [], []
    for notebook in notebooks:
        try:
            plan.append((notebook, notebook_parameters(profile, notebook, results_root, root)))
        except RunError as error:
            problems.append(str(error))
    if problems:
        raise RunError("\n  ".join(["the run cannot start:", *problems]))
    return plan


def run_notebooks(
    plan: Sequence[tuple[Path, dict[str, Any]]],
    results_root: Path,
    root: Path,
    kernel_name: str,
    log_output: bool = False,
) -> NotebookFailure | None:
    """Execute and render each planned notebook in order; stop at the first failure and return it."""
    for number, (notebook, parameters) in enumerate(plan, start=1):
        print(f"[{number}/{len(plan)}] {display_path(notebook, root)} ...", flush=True)
        (results_root / notebook.stem).mkdir(parents=True, exist_ok=True)
        remove_stage_summary(results_root / notebook.stem)  # a failed run must not show an earlier headline
        run = execute_notebook(
            notebook, results_root / "notebooks" / f"{notebook.stem}.ipynb", parameters, kernel_name, root, log_output
        )
        report = results_root / f"{notebook.stem}.html"
        if run.written:
            export_html(run.executed, report)
        if run.failure is not None:
            if run.written:
                print(f"  report of what ran: {display_path(report, root)}", flush=True)
            return run.failure
        print(f"  ok ({run.seconds:.1f} s) -> {display_path(report, root)}", flush=True)
    return None


def parameter_text(value: Any) -> str:
    """A parameter's value on one line, as YAML writes it in a profile (``[train, val]``, ``null``, ``true``)."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip().removesuffix("\n...").strip()


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m ganon_utils run",
        description="Execute the notebooks in order with a profile (papermill) and render HTML reports.",
        epilog=(
            "Outputs: results/<stem>.html (reports), results/notebooks/<stem>.ipynb (executed notebooks), "
            "results/<stem>/ (tables and figures), results/index.html (links to all of them). "
            f"Profiles: {', '.join(available_profiles()) or 'none'} (profiles/<name>.yaml) or a path to a YAML file."
        ),
    )
    parser.add_argument("--profile", default="demo", help="profile name (profiles/<name>.yaml) or path (default: demo)")
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--only", help="comma-separated notebooks to run, by number or name (e.g. 01,03)")
    choose.add_argument("--from", dest="start", help="run this notebook and every later one (e.g. 02)")
    parser.add_argument("--notebooks-dir", type=Path, default=None, help="folder of notebooks (default: notebooks/)")
    parser.add_argument("--results-dir", type=Path, default=None, help="output folder (default: results/)")
    parser.add_argument("--kernel", default=None, help=f"Jupyter kernel (default: {KERNEL_NAME} if registered, else python3)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' cell output to the terminal")
    parser.add_argument("--verbose", action="store_true",
                        help="keep the native libraries' log lines (MediaPipe, TFLite) in reports and on the terminal; "
                        "the same as GANON_LOG_LEVEL=debug")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print the notebooks and parameters, run nothing")
    return parser


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m ganon_utils run``: returns 0 when every selected notebook ran, 1 on a failure, 2 on bad input."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    root = repo_root()
    notebooks_dir = (args.notebooks_dir or root / "notebooks").resolve()
    results_root = (args.results_dir or root / "results").resolve()
    try:
        profile = load_profile(args.profile)
        notebooks = list_notebooks(notebooks_dir)
        if not notebooks:
            raise RunError(f"no notebooks (*.ipynb) in {notebooks_dir}")
        only = args.only.split(",") if args.only else None
        selected = select_notebooks(notebooks, only=only, start=args.start)
        plan = plan_run(profile, selected, results_root, root)
    except (ProfileError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stems = {nb.stem for nb in notebooks}
    for stem in notebook_sections(profile):
        if stem not in stems:
            print(
                f"warning: profile {profile.name!r} has a section for {stem}, but {display_path(notebooks_dir, root)}/ has no such notebook",
                file=sys.stderr,
            )

    print(f"profile {profile.name} ({display_path(profile.path, root)}): {len(plan)} notebook(s)", flush=True)
    problems = run_problems(plan, root, prepared_paths(profile, root))
    if args.dry_run:
        for notebook, parameters in plan:
            print(f"  {display_path(notebook, root)}:")
            for name, value in parameters.items():
                print(f"      {name}: {parameter_text(value)}")
        for problem in problems:
            print(f"  missing: {problem}")
        return 0
    if problems:
        print(f"cannot start: profile {profile.name!r} needs {len(problems)} thing(s) that are missing:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("nothing was run; see data/README.md for the datasets and the messages above for the weights.", file=sys.stderr)
        return 2

    if profile.setup.get("demo_data"):
        print("building demo data (data/demo, cached in data/cache) ...", flush=True)
        try:
            prepare_data(profile, root)
        except Exception as error:  # any failure here stops the run with a readable line
            print(f"FAILED: demo data: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    set_verbose(args.verbose)
    os.environ.setdefault(PROGRESS_ENV, "lines")  # nobody watches a papermill kernel live: a line per stage
    kernel = args.kernel or default_kernel()
    failure = run_notebooks(plan, results_root, root, kernel, args.log_output)
    index = write_index(results_root, notebooks, profile.name)
    if failure is not None:
        print(failure.message(root), file=sys.stderr, flush=True)
        print(f"index: {display_path(index, root)}", flush=True)
        return 1
    print(f"done; index: {display_path(index, root)}", flush=True)
    return 0
