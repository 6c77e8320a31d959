#!/usr/bin/env bash
# Static checks run by `lab test` (and so by .ci/run) before the test suite:
#   ruff over the repository (rules in pyproject.toml [tool.ruff]),
#   mypy --strict over the core package `portable` (settings in pyproject.toml [tool.mypy]).
# providers/ ships as `portable.providers` (setup.py maps the folder), a rename mypy cannot
# follow from the source tree, so mypy reads a throwaway tree of symlinks that has the
# installed layout. Provider modules are followed for their types; their own findings are
# not reported (their SDKs publish no types for most of what they call).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py=${LAB_PYTHON:-python3}
cd "$repo"
echo "ruff: $("$py" -m ruff --version)"
"$py" -m ruff check .
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/portable"
for f in "$repo"/portable/*; do ln -s "$f" "$tree/portable/$(basename "$f")"; done
ln -s "$repo/providers" "$tree/portable/providers"
echo "mypy: $("$py" -m mypy --version)"
cd "$tree"
"$py" -m mypy --config-file "$repo/pyproject.toml" --strict -p portable
