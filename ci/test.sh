#!/usr/bin/env bash
# The whole test suite: host tests, then the image build and the QEMU boot tests over QMP.
# Works on a fresh Debian 12 machine as root: it installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-host.sh
ci/setup.sh
export LLMOS_CACHE_DIR="${LLMOS_CACHE_DIR:-/var/cache/llmos}"
echo "== ruff (t=${SECONDS}s)"
.venv/bin/ruff check .
echo "== mypy (t=${SECONDS}s)"
ci/typecheck.sh
echo "== building the qemu image (cached packages under $LLMOS_CACHE_DIR, t=${SECONDS}s)"
.venv/bin/python -c "from llmos.host import image; image.ensure_built('qemu')"
echo "== pytest (t=${SECONDS}s)"
set +e
.venv/bin/pytest -p no:cacheprovider -rfE --durations=40 "$@"
status=$?
set -e
echo "== done (t=${SECONDS}s)"
# pytest exits 5 when it collected no tests: that is a failure too.
[ "$status" = 5 ] && echo "pytest collected no tests: failing" >&2
exit "$status"
