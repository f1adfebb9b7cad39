#!/usr/bin/env bash
# mypy over the packages that must stay strictly typed. The checkout maps folders to subpackages
# (kernel/ -> llmos.kernel, see pyproject.toml), which mypy cannot follow through the editable
# install, so this lays the same mapping out as symlinks in a temporary tree and checks that.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/llmos"
for f in llmos/*; do ln -s "$repo/$f" "$tree/llmos/"; done
for d in init kernel compositor hal sdk host update; do ln -s "$repo/$d" "$tree/llmos/$d"; done
cd "$tree"
exec "$repo/.venv/bin/mypy" --config-file "$repo/pyproject.toml" --python-executable "$repo/.venv/bin/python" \
    -p llmos "$@"
