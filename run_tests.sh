#!/usr/bin/env bash
# Set up the environment when needed (scripts/setup_env.sh), then run the test suite offline.
# Arguments go to pytest, e.g. ./run_tests.sh -m "not slow" -x tests/test_profiles.py
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh || exit 1

export HF_HUB_OFFLINE=1 MPLBACKEND=Agg
status=0
"$GANON_VENV_PYTHON" -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "run_tests.sh: pytest collected no tests (arguments: ${*:-none}); treating that as a failure" >&2
    exit 1
fi
exit "$status"
