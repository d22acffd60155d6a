#!/usr/bin/env bash
# Lint, format check and type check, as .ci/run runs them before the tests (set-up as run_tests.sh does).
#     bash scripts/check_code.sh          # check only; exits non-zero on any finding
#     bash scripts/check_code.sh --fix    # apply ruff's safe fixes and its formatting first
# Settings: [tool.ruff] and [tool.mypy] in pyproject.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh || exit 1

if [ "${1:-}" = "--fix" ]; then
    ruff check --fix .
    ruff format .
fi
echo "== ruff check"
ruff check .
echo "== ruff format --check"
ruff format --check .
echo "== mypy"
mypy
