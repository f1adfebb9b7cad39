#!/usr/bin/env bash
# The main job: build the LLM OS image and boot it in QEMU with the embedded local model.
# No API key and no network beyond package installs. Works on a fresh Debian 12 machine as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-host.sh
ci/setup.sh
# Reuses the last image when no input changed since it was built ("image up to date"); LLMOS_REBUILD=1
# forces a build.
.venv/bin/llmos image build --if-changed --variant "${LLMOS_VARIANT:-qemu}"
exec .venv/bin/llmos vm --no-build --variant "${LLMOS_VARIANT:-qemu}" "$@"
