# shellcheck shell=bash
# Set up (or reuse) the project's Python environment in .venv/ at the repository root.
#
# Sourced by run_all.sh and run_tests.sh, so both use one piece of set-up code:
#     source scripts/setup_env.sh || exit 1
#
# First call: creates .venv with `${GANON_PYTHON:-python3} -m venv` (Python 3.11 or 3.12), installs
# requirements.txt, then requirements-nodeps.txt with --no-deps, installs ganon_utils editable (--no-deps),
# registers the Jupyter kernel `ganon-utils` inside .venv, then writes the stamp .venv/.ganon-setup
# holding a hash of requirements.txt + requirements-nodeps.txt + pyproject.toml. Later calls with the same hash do nothing (no pip, < 1 s);
# a changed hash reinstalls into the existing .venv. The stamp is removed before installing and
# written only after every step succeeded, so a failed or interrupted set-up is retried next time.
# pip's output goes to .venv/.ganon-setup.log; its tail is printed when a step fails.
#
# After sourcing: GANON_ROOT (repository root) and GANON_VENV_PYTHON are set, .venv/bin leads PATH.
# Progress lines go to stderr.

_ganon_setup_hash() {
    # sha256 of requirements.txt, requirements-nodeps.txt and pyproject.toml
    local root="$1"
    local files=("$root/requirements.txt" "$root/requirements-nodeps.txt" "$root/pyproject.toml")
    if command -v sha256sum >/dev/null 2>&1; then
        cat "${files[@]}" | sha256sum | cut -d' ' -f1
    else
        cat "${files[@]}" | shasum -a 256 | cut -d' ' -f1
    fi
}

_ganon_setup_fail() {
    # $1: what failed, $2: log file
    echo "error: set-up step failed: $1" >&2
    if [ -f "$2" ]; then
        echo "---- last lines of ${2#"$GANON_ROOT"/} ----" >&2
        tail -n 40 "$2" >&2
        echo "----" >&2
    fi
    echo "fix the cause and run the command again; the set-up resumes where it failed." >&2
}

_ganon_base_python() {
    # The interpreter that creates .venv: $GANON_PYTHON or python3, checked to be 3.11 or 3.12
    # (the pinned set needs >= 3.11 for pandas 3 and jax 0.7, <= 3.12 for mediapipe 0.10.21).
    local base="${GANON_PYTHON:-python3}"
    if ! command -v "$base" >/dev/null 2>&1; then
        echo "error: $base not found; install Python 3.11 or set GANON_PYTHON=/path/to/python3.11" >&2
        return 1
    fi
    if ! "$base" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null; then
        echo "error: $base is Python $("$base" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?');" \
            "the pinned requirements need Python 3.11 or 3.12: set GANON_PYTHON=/path/to/python3.11" >&2
        return 1
    fi
    printf '%s\n' "$base"
}

ganon_setup_env() {
    # Errors are checked one by one: callers use `source ... || exit 1`, which turns off `set -e` here.
    local root="$1"
    local venv="$root/.venv"
    local py="$venv/bin/python"
    local stamp="$venv/.ganon-setup"
    local log="$venv/.ganon-setup.log"
    local want base started=$SECONDS
    want="$(_ganon_setup_hash "$root")" || { echo "error: cannot read requirements.txt, requirements-nodeps.txt and pyproject.toml in $root" >&2; return 1; }

    if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$py" -c '' 2>/dev/null; then
        return 0
    fi

    if [ -x "$py" ] && "$py" -c '' 2>/dev/null; then
        echo "updating .venv (requirements.txt or pyproject.toml changed, or an earlier set-up did not finish)..." >&2
    else
        base="$(_ganon_base_python)" || return 1
        echo "setting up .venv (first run, ~5 min, ~7 GB)..." >&2
        if ! "$base" -m venv --clear "$venv"; then
            echo "error: '$base -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)" >&2
            return 1
        fi
    fi
    rm -f "$stamp"
    : >"$log"
    echo "  installing requirements.txt (follow with: tail -f .venv/.ganon-setup.log)" >&2
    "$py" -m pip install --disable-pip-version-check -r "$root/requirements.txt" >>"$log" 2>&1 \
        || { _ganon_setup_fail "pip install -r requirements.txt" "$log"; return 1; }
    "$py" -m pip install --disable-pip-version-check --no-deps -r "$root/requirements-nodeps.txt" >>"$log" 2>&1 \
        || { _ganon_setup_fail "pip install --no-deps -r requirements-nodeps.txt" "$log"; return 1; }
    echo "  installing ganon_utils (editable)" >&2
    "$py" -m pip install --disable-pip-version-check --no-deps -e "$root" >>"$log" 2>&1 \
        || { _ganon_setup_fail "pip install --no-deps -e ." "$log"; return 1; }
    echo "  registering Jupyter kernel ganon-utils" >&2
    "$py" -m ipykernel install --sys-prefix --name ganon-utils --display-name "Python (ganon_utils)" >>"$log" 2>&1 \
        || { _ganon_setup_fail "ipykernel install" "$log"; return 1; }
    { printf '%s\n' "$want" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"; } \
        || { echo "error: cannot write $stamp" >&2; return 1; }
    echo "environment ready in .venv ($((SECONDS - started)) s)" >&2
}

GANON_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ganon_setup_env "$GANON_ROOT"; then
    GANON_VENV_PYTHON="$GANON_ROOT/.venv/bin/python"
    VIRTUAL_ENV="$GANON_ROOT/.venv"
    PATH="$VIRTUAL_ENV/bin:$PATH"
    export GANON_ROOT GANON_VENV_PYTHON VIRTUAL_ENV PATH
else
    false
fi
