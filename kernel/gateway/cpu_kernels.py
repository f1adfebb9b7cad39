"""Which build of llama.cpp's CPU kernels this processor runs, chosen before llama_cpp is imported.

The llama-cpp-python wheel is compiled with GGML_NATIVE=OFF, which in this llama.cpp still means AVX2,
FMA, F16C and BMI2. A processor without them (many kiosk Celerons and Atoms) dies of SIGILL in the first
matrix product, and QEMU's TCG, which has AVX2, emulates it about 2.4x slower than SSE4.2 (docs/
PERFORMANCE.md), so `llmos vm` hides AVX from TCG guests. The wheel's directory also holds the same
kernels compiled for SSE4.2 only (`lib/sse42/libggml-cpu.so.0`, built by ci/setup.sh). Loading that
file first makes the dynamic loader use it, by its soname, when llama.cpp asks for libggml-cpu.so.0.

The processor's features are read from /proc/cpuinfo, the kernel's view: it leaves out what the OS has
not enabled (AVX without XSAVE), which CPUID alone would report.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from llmos.kernel.gateway.errors import GatewayError

SONAME = "libggml-cpu.so.0"
WHEEL_NEEDS = frozenset({"avx", "avx2", "fma", "f16c", "bmi2"})
SSE42_NEEDS = frozenset({"ssse3", "sse4_1", "sse4_2"})
SSE42_DIR = "sse42"
CPUINFO = Path("/proc/cpuinfo")


class UnsupportedProcessor(GatewayError):
    """No build of the CPU kernels that this processor can run is installed."""


@dataclass(frozen=True)
class Kernels:
    """The chosen build: its name, and the library to load first (None: the wheel's own)."""

    build: str
    library: Path | None

    def describe(self) -> str:
        return "AVX2 kernels" if self.library is None else "SSE4.2 kernels (this processor has no AVX2)"


def processor_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor in a /proc/cpuinfo text (empty if it has none)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def choose(flags: frozenset[str], lib_dir: Path) -> Kernels:
    """The fastest installed build these flags can run, or UnsupportedProcessor saying what is missing."""
    if flags >= WHEEL_NEEDS:
        return Kernels("avx2", None)
    lacking = ", ".join(sorted(WHEEL_NEEDS - flags))
    if not flags >= SSE42_NEEDS:
        raise UnsupportedProcessor(
            f"this processor lacks {', '.join(sorted(SSE42_NEEDS - flags))}: the embedded model needs at "
            "least SSE4.2 (x86-64-v2); use an inference server instead (docs/fleet.md)")
    library = lib_dir / SSE42_DIR / SONAME
    if not library.is_file():
        raise UnsupportedProcessor(
            f"this processor lacks {lacking}, and the SSE4.2 build of llama.cpp's CPU kernels is not "
            f"installed at {library} (ci/setup.sh builds it)")
    return Kernels("sse42", library)


def wheel_lib_dir() -> Path:
    """llama_cpp's library directory, found without importing llama_cpp (that would load the kernels)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise GatewayError("llama-cpp-python is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


_lock = threading.Lock()
_chosen: Kernels | None = None


def for_this_processor(cpuinfo: Path | None = None) -> Kernels:
    """The build this processor would run, without loading anything (for health reports)."""
    return choose(processor_flags((cpuinfo or CPUINFO).read_text()), wheel_lib_dir())


def preload(kernels: Kernels) -> None:
    """Load the chosen build's library ahead of llama.cpp (nothing for the wheel's own)."""
    if kernels.library is None:
        return
    base = kernels.library.parent.parent / "libggml-base.so.0"  # the SSE4.2 build has no run path to it
    for library in (base, kernels.library):
        try:
            ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
        except OSError as error:  # a truncated or foreign file: say which, rather than crash the load
            raise UnsupportedProcessor(f"the {kernels.build} kernels cannot be loaded: {error}") from error


def ensure(cpuinfo: Path | None = None) -> Kernels:
    """Choose and load the kernels once per process; call it before anything imports llama_cpp."""
    global _chosen
    with _lock:
        if _chosen is None:
            kernels = for_this_processor(cpuinfo)
            preload(kernels)
            _chosen = kernels
        return _chosen
