"""The notebook runner (ganon_utils.notebooks) and the two README commands' shell scripts.

Notebooks here are tiny ones generated with nbformat into a temporary folder; they run for real
with papermill in a Jupyter kernel, so parameters, selection, HTML export, the index and failure
reporting are exercised end to end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import types
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from ganon_utils import notebooks as runner
from ganon_utils.profiles import Profile, load_profile
from ganon_utils.runner import index_page
from ganon_utils.runner.stage_summary import remove_stage_summary, write_stage_summary

REPO_ROOT = Path(__file__).resolve().parent.parent

PARAMS_HEADER = 'profile_name = ""\nresults_dir = ""\n'

# Each notebook records every simple global it has right after the parameters (what it defines plus
# what papermill injected) in results_dir/params.json, so tests see exactly what was passed and what ran.
RECORD_CELL = """\
import json, pathlib
out = pathlib.Path(results_dir)
out.mkdir(parents=True, exist_ok=True)
params = {k: v for k, v in dict(globals()).items() if not k.startswith("_") and isinstance(v, (str, int, float, bool, type(None)))}
(out / "params.json").write_text(json.dumps(params))
print("PARAMS", json.dumps(params, sort_keys=True))
"""


def make_notebook(path: Path, parameters: str, cells: list[str]) -> Path:
    """Write a notebook: a ``parameters``-tagged cell, then ``cells`` as code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    first = nbformat.v4.new_code_cell(parameters)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first] + [nbformat.v4.new_code_cell(source) for source in [RECORD_CELL, *cells]]
    nbformat.write(nb, str(path))
    return path


FIGURE_AND_TABLE = """\
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, 1], [0, scale])
(out / "figures").mkdir(exist_ok=True)
fig.savefig(out / "figures" / "line.png")
(out / "scores.csv").write_text("method,score\\nblur9,0.5\\n")
"""


@pytest.fixture()
def three_notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    make_notebook(folder / "01_alpha.ipynb", PARAMS_HEADER + 'greeting = "default"\nscale: int = 1\n', [FIGURE_AND_TABLE])
    make_notebook(
        folder / "02_beta.ipynb", PARAMS_HEADER + "factor = 1\n", ['(out / "summary.md").write_text("| a |\\n|---|\\n| 1 |\\n")']
    )
    make_notebook(folder / "03_gamma.ipynb", PARAMS_HEADER, ["print('gamma done')"])
    (folder / ".hidden.ipynb").write_text("{}")  # not a notebook of the run
    return folder


@pytest.fixture()
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny\n"
        "setup: {demo_data: false}\n"
        "common: {scale: 3, unused_common: 1}\n"
        "notebooks:\n"
        "  01_alpha: {greeting: hello}\n"
        "  02_beta: {factor: 7}\n"
    )
    return path


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def links_of(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text())
    return parser.hrefs


def run_cli(args: list[str], notebooks_dir: Path, results_dir: Path, profile: Path) -> int:
    return runner.cli(
        [*args, "--notebooks-dir", str(notebooks_dir), "--results-dir", str(results_dir), "--profile", str(profile)]
    )


# --- selection and parameters (no kernel) ---------------------------------------------------------


def test_list_notebooks_in_name_order_without_hidden(three_notebooks: Path) -> None:
    assert [p.name for p in runner.list_notebooks(three_notebooks)] == ["01_alpha.ipynb", "02_beta.ipynb", "03_gamma.ipynb"]


def test_select_notebooks_by_number_stem_and_from(three_notebooks: Path) -> None:
    nbs = runner.list_notebooks(three_notebooks)
    stems = lambda ps: [p.stem for p in ps]  # noqa: E731
    assert stems(runner.select_notebooks(nbs, only=["03", "01"])) == ["01_alpha", "03_gamma"]
    assert stems(runner.select_notebooks(nbs, only=["2"])) == ["02_beta"]
    assert stems(runner.select_notebooks(nbs, only=["02_beta.ipynb"])) == ["02_beta"]
    assert stems(runner.select_notebooks(nbs, start="02")) == ["02_beta", "03_gamma"]
    assert stems(runner.select_notebooks(nbs, start="03_gamma")) == ["03_gamma"]
    assert stems(runner.select_notebooks(nbs)) == ["01_alpha", "02_beta", "03_gamma"]
    with pytest.raises(runner.RunError, match="no notebook matches '09'.*01_alpha"):
        runner.select_notebooks(nbs, only=["01", "09"])


def test_select_nothing_is_an_error(three_notebooks: Path) -> None:
    with pytest.raises(runner.RunError, match="no notebook selected"):
        runner.select_notebooks(runner.list_notebooks(three_notebooks), only=[" ", ""])


def test_report_entry_status_from_papermill_metadata(tmp_path: Path) -> None:
    results = tmp_path / "results"
    (results / "notebooks").mkdir(parents=True)

    def executed(stem: str, exception: bool | None, states: list[str]) -> None:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1") for _ in states])
        for cell, state in zip(nb.cells, states):
            cell.metadata["papermill"] = {"status": state}
        nb.metadata["papermill"] = {"exception": exception, "parameters": {"profile_name": "demo"}, "end_time": "t"}
        nbformat.write(nb, str(results / "notebooks" / f"{stem}.ipynb"))

    executed("01_a", None, ["completed", "completed"])
    executed("02_b", True, ["completed", "failed"])
    executed("03_c", None, ["completed", "pending"])  # interrupted run
    statuses = {stem: index_page.report_entry(results, stem).status for stem in ("01_a", "02_b", "03_c", "04_d")}
    assert statuses == {"01_a": "ok", "02_b": "failed", "03_c": "incomplete", "04_d": "not run"}
    assert index_page.report_entry(results, "01_a").profile == "demo"


def test_declared_parameters_reads_the_tagged_cell(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "01_x.ipynb", 'a = 1\nb: int = 2\nc, d = 3, 4\nprint("not a parameter")\n', [])
    assert runner.declared_parameters(nb) == ["a", "b", "c", "d"]
    untagged = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1")])
    nbformat.write(untagged, str(tmp_path / "02_y.ipynb"))
    with pytest.raises(runner.RunError, match="exactly one cell tagged 'parameters', found 0"):
        runner.declared_parameters(tmp_path / "02_y.ipynb")


def test_notebook_parameters_merge_and_check(three_notebooks: Path, profile_file: Path, tmp_path: Path) -> None:
    profile = load_profile(profile_file)
    results = tmp_path / "results"
    params = runner.notebook_parameters(profile, three_notebooks / "01_alpha.ipynb", results, REPO_ROOT)
    # section key, a common key the notebook declares, never a common key it does not declare
    assert params == {"greeting": "hello", "scale": 3, "profile_name": "tiny", "results_dir": str(results / "01_alpha")}
    inside = runner.notebook_parameters(profile, three_notebooks / "03_gamma.ipynb", REPO_ROOT / "results", REPO_ROOT)
    assert inside == {"profile_name": "tiny", "results_dir": "results/03_gamma"}

    typo = Profile("typo", profile_file, {"notebooks": {"02_beta": {"factr": 2}}})
    with pytest.raises(runner.RunError, match="sets factr for 02_beta"):
        runner.notebook_parameters(typo, three_notebooks / "02_beta.ipynb", results, REPO_ROOT)
    bare = make_notebook(tmp_path / "04_bare.ipynb", "x = 1\n", [])
    with pytest.raises(runner.RunError, match="must define profile_name, results_dir"):
        runner.notebook_parameters(typo, bare, results, REPO_ROOT)


def test_index_html_escapes_and_links(tmp_path: Path) -> None:
    entry = index_page.ReportEntry(
        "01_a<b>", "01_a<b>.html", None, "ok", "demo", None, ("01_a<b>/t 1.csv",), ("01_a<b>/f.png", "01_a<b>/f.pdf")
    )
    page = index_page.index_html([entry], "demo<x>", "2026-01-01 00:00:00", "abc123", True)
    assert "<b>" not in page.replace("<b>GAN", "")  # names escaped
    assert "demo&lt;x&gt;" in page and "uncommitted" in page
    (tmp_path / "index.html").write_text(page)
    # the stage's report link, then the list of every file
    assert links_of(tmp_path / "index.html") == [
        "01_a%3Cb%3E.html",
        "01_a%3Cb%3E.html",
        "01_a%3Cb%3E/t%201.csv",
        "01_a%3Cb%3E/f.png",
        "01_a%3Cb%3E/f.pdf",
    ]
    assert "<img " not in page  # thumbnails only where the notebook chose them (its summary)
    assert "not comparable to the paper" not in page  # the notice is for the demo profile


def test_index_shows_each_stage_title_time_headline_table_thumbnail_and_backends(tmp_path: Path) -> None:
    results = tmp_path / "results"
    (results / "notebooks").mkdir(parents=True)
    source = tmp_path / "04_eval_x.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("intro\n\n# 04 · Identity distance (Table 1)\n\ntext")])
    nbformat.write(nb, str(source))
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    executed.cells[0].metadata["papermill"] = {"status": "completed"}
    executed.metadata["papermill"] = {
        "exception": None,
        "parameters": {"profile_name": "demo"},
        "end_time": "t",
        "duration": 125.4,
    }
    nbformat.write(executed, str(results / "notebooks" / "04_eval_x.ipynb"))
    figures = results / "04_eval_x" / "figures"
    figures.mkdir(parents=True)
    (figures / "dist.png").write_bytes(b"png")
    table1 = pd.DataFrame({"method": ["pixel8", "blur9"], "mean_distance": [0.89084, 0.0047], "paper": [0.8791, np.nan]})
    write_stage_summary(results / "04_eval_x", "Mean **cosine distance** <to> the original", tables={"Table 1 beside the paper": table1},
                        figures=[figures / "dist.png"], backends={"recognizer": "sface"})  # fmt: skip
    entry = index_page.report_entry(results, "04_eval_x", source)
    assert entry.title == "04 · Identity distance (Table 1)" and entry.seconds == 125.4
    page = index_page.index_html([entry], "demo", "2026-01-01 00:00:00", "abc", False)
    assert "<h2>04 · Identity distance (Table 1)</h2>" in page and "took 2 min 05 s" in page
    assert "Mean <strong>cosine distance</strong> &lt;to&gt; the original" in page
    assert "<caption>Table 1 beside the paper</caption>" in page and "<td>0.891</td>" in page and "<td>0.879</td>" in page
    assert '<img src="04_eval_x/figures/dist.png"' in page and "recognizer: <code>sface</code>" in page
    assert "not comparable to the paper" in page  # demo profile
    # a failed rerun hides the old headline: the runner deletes the summary before the notebook runs
    remove_stage_summary(results / "04_eval_x")
    assert index_page.report_entry(results, "04_eval_x", source).summary is None


def test_prepare_data_builds_demo_data_only_when_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = []
    fake = types.ModuleType("ganon_utils.demo_data")
    fake.build_demo_data = lambda out_dir, cache_dir: calls.append((out_dir, cache_dir))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ganon_utils.demo_data", fake)
    runner.prepare_data(Profile("p", tmp_path / "p.yaml", {"setup": {"demo_data": False}}), tmp_path)
    assert calls == []
    runner.prepare_data(Profile("p", tmp_path / "p.yaml", {"setup": {"demo_data": True}}), tmp_path)
    assert calls == [(tmp_path / "data" / "demo", tmp_path / "data" / "cache")]


def test_cli_rejects_bad_profile_and_dry_run_selects(three_notebooks: Path, profile_file: Path, tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    assert run_cli([], three_notebooks, results, tmp_path / "missing.yaml") == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
    assert run_cli(["--dry-run", "--only", "01,03"], three_notebooks, results, profile_file) == 0
    out = capsys.readouterr().out
    planned: dict[str, list[str]] = {}
    notebook = ""
    for line in out.splitlines()[1:]:  # "  <notebook>:" then "      <name>: <value>" per parameter
        if line.startswith("      "):
            planned[notebook].append(line.strip())
        else:
            notebook = line.strip().removesuffix(":")
            planned[notebook] = []
    assert [Path(name).name for name in planned] == ["01_alpha.ipynb", "03_gamma.ipynb"]
    assert "greeting: hello" in planned[str(three_notebooks / "01_alpha.ipynb")]
    assert not results.exists()  # a dry run writes nothing


# --- real papermill runs ------------------------------------------------------------------------


def test_full_run_injects_parameters_renders_reports_and_index(three_notebooks: Path, profile_file: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert run_cli([], three_notebooks, results, profile_file) == 0

    received = json.loads((results / "01_alpha" / "params.json").read_text())
    assert received == {"profile_name": "tiny", "results_dir": str(results / "01_alpha"), "greeting": "hello", "scale": 3}
    assert json.loads((results / "02_beta" / "params.json").read_text())["factor"] == 7
    for stem in ("01_alpha", "02_beta", "03_gamma"):
        assert (results / "notebooks" / f"{stem}.ipynb").is_file()
        assert (results / f"{stem}.html").is_file()
    report = (results / "01_alpha.html").read_text()
    assert '"greeting": "hello"' in report  # the executed output is in the report
    assert "gamma done" in (results / "03_gamma.html").read_text()
    assert not list(results.rglob(".*.tmp*"))  # no temporary files left

    hrefs = links_of(results / "index.html")
    assert {"01_alpha.html", "02_beta.html", "03_gamma.html"} <= set(hrefs)
    assert {"01_alpha/scores.csv", "01_alpha/figures/line.png", "02_beta/summary.md"} <= set(hrefs)
    assert all((results / href).is_file() for href in hrefs)
    index = (results / "index.html").read_text()
    assert "Profile <strong>tiny</strong>" in index and "git commit" in index


def test_from_runs_only_the_later_notebooks(three_notebooks: Path, profile_file: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert run_cli(["--from", "02"], three_notebooks, results, profile_file) == 0
    assert not (results / "notebooks" / "01_alpha.ipynb").exists()
    assert (results / "02_beta" / "params.json").is_file() and (results / "03_gamma.html").is_file()
    entries = {
        e.stem: e.status for e in (index_page.report_entry(results, nb.stem) for nb in runner.list_notebooks(three_notebooks))
    }
    assert entries == {"01_alpha": "not run", "02_beta": "ok", "03_gamma": "ok"}


def test_failure_names_notebook_cell_and_error_and_stops(tmp_path: Path, profile_file: Path, capsys) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    make_notebook(folder / "01_alpha.ipynb", PARAMS_HEADER + "greeting = ''\nscale = 0\n", [])
    fail = nbformat.v4.new_notebook()
    tagged = nbformat.v4.new_code_cell(PARAMS_HEADER)
    tagged.metadata["tags"] = ["parameters"]
    fail.cells = [
        tagged,
        nbformat.v4.new_code_cell("raise ValueError('boom: bad input')"),
        nbformat.v4.new_code_cell("print('never')"),
    ]
    nbformat.write(fail, str(folder / "02_fail.ipynb"))
    make_notebook(folder / "03_after.ipynb", PARAMS_HEADER, [])
    results = tmp_path / "results"

    assert run_cli([], folder, results, profile_file) == 1
    err = capsys.readouterr().err
    assert f"FAILED: {folder / '02_fail.ipynb'} cell 2: ValueError: boom: bad input" in err
    assert (results / "01_alpha" / "params.json").is_file()
    assert not (results / "03_after").exists() and not (results / "notebooks" / "03_after.ipynb").exists()
    assert "boom: bad input" in (results / "02_fail.html").read_text()  # what ran is rendered
    assert index_page.report_entry(results, "02_fail").status == "failed"
    assert "02_fail.html" in links_of(results / "index.html")


# --- shell scripts ------------------------------------------------------------------------------


def copy_scripts(dest: Path) -> Path:
    (dest / "scripts").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "run_all.sh", dest / "run_all.sh")
    shutil.copy2(REPO_ROOT / "scripts" / "setup_env.sh", dest / "scripts" / "setup_env.sh")
    return dest


def test_run_all_help_is_quick_and_does_no_setup(tmp_path: Path) -> None:
    repo = copy_scripts(tmp_path / "repo")
    began = time.perf_counter()
    done = subprocess.run(["bash", "run_all.sh", "--help"], cwd=repo, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and time.perf_counter() - began < 5
    assert "--profile" in done.stdout and "results/" in done.stdout
    bad = subprocess.run(["bash", "run_all.sh", "--profle", "demo"], cwd=repo, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown option '--profle'" in bad.stderr
    assert not (repo / ".venv").exists()


SETUP_HASH_FILES = ("requirements.txt", "requirements-nodeps.txt", "pyproject.toml")

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../calls.log"
case "$*" in *"pip install"*) exit "${FAKE_PIP_RC:-0}" ;; esac
exit 0
"""


def _source_setup(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "source scripts/setup_env.sh && echo PY=$GANON_VENV_PYTHON"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_setup_env_stamp_logic_with_a_fake_venv(tmp_path: Path) -> None:
    repo = copy_scripts(tmp_path / "repo")
    (repo / "requirements.txt").write_text("numpy\n")
    (repo / "requirements-nodeps.txt").write_text("six\n")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls, stamp = repo / ".venv" / "calls.log", repo / ".venv" / ".ganon-setup"

    def pip_calls() -> list[str]:
        return (
            [line for line in calls.read_text().splitlines() if line.startswith(("-m pip", "-m ipykernel"))]
            if calls.exists()
            else []
        )

    first = _source_setup(repo)
    assert first.returncode == 0, first.stderr
    assert f"PY={python}" in first.stdout
    assert pip_calls() == [
        "-m pip install --disable-pip-version-check -r " + str(repo / "requirements.txt"),
        "-m pip install --disable-pip-version-check --no-deps -r " + str(repo / "requirements-nodeps.txt"),
        "-m pip install --disable-pip-version-check --no-deps -e " + str(repo),
        "-m ipykernel install --sys-prefix --name ganon-utils --display-name Python (ganon_utils)",
    ]
    expected = hashlib.sha256(b"numpy\n" + b"six\n" + b"[project]\nname = 'x'\n").hexdigest()
    assert stamp.read_text().strip() == expected

    again = _source_setup(repo)
    assert again.returncode == 0 and len(pip_calls()) == 4 and again.stderr == ""  # stamp matches: no pip

    (repo / "requirements.txt").write_text("numpy\npandas\n")
    failed = _source_setup(repo, FAKE_PIP_RC="1")
    assert failed.returncode != 0 and "set-up step failed: pip install -r requirements.txt" in failed.stderr
    assert not stamp.exists()  # a failed install leaves no stamp ...
    retried = _source_setup(repo)  # ... so the next call installs again
    assert retried.returncode == 0 and len(pip_calls()) == 5 + 4
    assert stamp.read_text().strip() != expected


def test_setup_env_refuses_an_unsupported_python(tmp_path: Path) -> None:
    repo = copy_scripts(tmp_path / "repo")
    (repo / "requirements.txt").write_text("")
    (repo / "requirements-nodeps.txt").write_text("")
    (repo / "pyproject.toml").write_text("")
    old = tmp_path / "python3.9"
    old.write_text('#!/usr/bin/env bash\ncase "$*" in *platform*) echo 3.9.18 ;; *) exit 1 ;; esac\n')
    old.chmod(0o755)
    done = _source_setup(repo, GANON_PYTHON=str(old))
    assert done.returncode != 0 and "Python 3.9.18" in done.stderr and "GANON_PYTHON" in done.stderr
    assert not (repo / ".venv").exists()


def test_setup_env_second_call_reuses_the_real_venv(tmp_path: Path) -> None:
    stamp = REPO_ROOT / ".venv" / ".ganon-setup"
    current = hashlib.sha256(b"".join((REPO_ROOT / name).read_bytes() for name in SETUP_HASH_FILES)).hexdigest()
    if not stamp.is_file() or stamp.read_text().strip() != current:
        pytest.skip(".venv was not set up by scripts/setup_env.sh for the current requirements (run ./run_tests.sh)")
    # A `pip` that records being imported: if the set-up ran pip, the marker would appear.
    shim = tmp_path / "shim"
    (shim / "pip").mkdir(parents=True)
    marker = tmp_path / "pip-was-called"
    (shim / "pip" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(1)\n")
    (shim / "pip" / "__main__.py").write_text("")
    began = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", "source scripts/setup_env.sh && echo PY=$GANON_VENV_PYTHON"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(shim)},
    )
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - began < 3
    assert not marker.exists() and "installing" not in done.stderr
    assert f"PY={REPO_ROOT / '.venv' / 'bin' / 'python'}" in done.stdout


def test_table_copies_round_floats_but_keep_small_p_values_readable(tmp_path: Path) -> None:
    from ganon_utils.report_files import save_table

    table = pd.DataFrame({"method": ["a", "b"], "mean": [0.123456789, np.nan], "p": [3.2e-24, 0.04]})
    save_table(table, tmp_path / "t")
    markdown = (tmp_path / "t.md").read_text()
    assert "| a | 0.1235 | 3.200e-24 |" in markdown and "| b |  | 0.0400 |" in markdown
    assert "3.200e-24" in (tmp_path / "t.tex").read_text() and "0.1235" in (tmp_path / "t.tex").read_text()
    assert pd.read_csv(tmp_path / "t.csv")["mean"][0] == 0.123456789  # the CSV keeps full precision


def test_notebooks_open_on_the_kernel_the_setup_registers() -> None:
    """JupyterLab opens each notebook on its saved kernelspec: it must be the `ganon-utils` kernel of .venv."""
    from jupyter_client.kernelspec import KernelSpecManager

    names = {
        nbformat.read(str(nb), as_version=4).metadata["kernelspec"]["name"]
        for nb in runner.list_notebooks(REPO_ROOT / "notebooks")
    }
    assert names == {runner.KERNEL_NAME}
    assert f"--name {runner.KERNEL_NAME}" in (REPO_ROOT / "scripts" / "setup_env.sh").read_text()
    if Path(sys.prefix).resolve() == (REPO_ROOT / ".venv").resolve():  # the environment the README's commands make
        spec = KernelSpecManager().get_kernel_spec(runner.KERNEL_NAME)
        assert Path(spec.argv[0]).parent == REPO_ROOT / ".venv" / "bin"
