"""The CPU kernels chosen for a processor: the choice from /proc/cpuinfo's flags, and the real embedded
model decoding on a processor without AVX (QEMU's user-mode emulator as a Nehalem, SSE4.2 and no AVX)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmos.kernel.gateway import Gateway, GatewaySettings
from llmos.kernel.gateway import cpu_kernels as ck
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.health import overview
from llmos.kernel.gateway.ledger import Ledger

HASWELL = "fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt avx f16c fma avx2 bmi1 bmi2"
NEHALEM = "fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt"
CPUINFO = ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {}\nbugs\t\t:\n\n"
           "processor\t: 1\nflags\t\t: {}\n")


def sse42_installed(tmp_path: Path) -> Path:
    (tmp_path / ck.SSE42_DIR).mkdir()
    (tmp_path / ck.SSE42_DIR / ck.SONAME).write_bytes(b"\x7fELF")
    return tmp_path


def test_flags_come_from_the_first_processor() -> None:
    assert ck.processor_flags(CPUINFO.format(NEHALEM, HASWELL)) == frozenset(NEHALEM.split())
    assert ck.processor_flags("processor\t: 0\n") == frozenset()


def test_a_processor_with_avx2_keeps_the_wheels_kernels(tmp_path: Path) -> None:
    assert ck.choose(frozenset(HASWELL.split()), tmp_path) == ck.Kernels("avx2", None)


def test_a_processor_without_avx_gets_the_sse42_build(tmp_path: Path) -> None:
    lib_dir = sse42_installed(tmp_path)
    chosen = ck.choose(frozenset(NEHALEM.split()), lib_dir)
    assert chosen == ck.Kernels("sse42", lib_dir / "sse42" / ck.SONAME)
    # AVX without FMA (Sandy Bridge) cannot run the wheel's kernels either
    assert ck.choose(frozenset((NEHALEM + " avx").split()), lib_dir).build == "sse42"


def test_a_missing_sse42_build_is_named(tmp_path: Path) -> None:
    with pytest.raises(ck.UnsupportedProcessor, match=r"lacks avx, avx2, bmi2, f16c, fma.*sse42/libggml-cpu"):
        ck.choose(frozenset(NEHALEM.split()), tmp_path)


def test_a_processor_without_sse42_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ck.UnsupportedProcessor, match="lacks sse4_1, sse4_2: the embedded model needs"):
        ck.choose(frozenset({"fpu", "sse", "sse2", "ssse3"}), sse42_installed(tmp_path))


def test_a_damaged_sse42_library_is_refused_with_its_path(tmp_path: Path) -> None:
    lib_dir = sse42_installed(tmp_path)  # four bytes of ELF magic, no more
    (lib_dir / "libggml-base.so.0").write_bytes(b"")
    with pytest.raises(ck.UnsupportedProcessor, match=r"the sse42 kernels cannot be loaded: .*libggml-base"):
        ck.preload(ck.choose(frozenset(NEHALEM.split()), lib_dir))


def embedded_status() -> tuple[bool | None, str]:
    gateway = Gateway(GatewaySettings.load({}), Ledger())
    local = next(p for p in asyncio.run(overview(gateway)).providers if p.name == "local")
    return local.model_present, local.detail


def test_the_providers_list_names_the_kernels() -> None:
    present, detail = embedded_status()
    assert present and detail.endswith(ck.for_this_processor().describe()), detail


def test_a_processor_that_cannot_run_the_model_is_shown_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format("fpu sse sse2", "fpu sse sse2"))
    monkeypatch.setattr(ck, "CPUINFO", cpuinfo)
    present, detail = embedded_status()
    assert present is False and "lacks sse4_1, sse4_2, ssse3: the embedded model needs" in detail


DECODE = """
import sys
from pathlib import Path
from llmos.kernel.gateway import cpu_kernels
if sys.argv[1] != "wheel":
    print(cpu_kernels.ensure(Path(sys.argv[1])).build, flush=True)
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[2], n_ctx=64, n_threads=2, verbose=False)
llm.eval(llm.tokenize(b"A tip calculator", add_bos=True))
print("decoded", llm.detokenize([llm.sample(temp=0.0)]), flush=True)
"""


@pytest.fixture(scope="module")
def embedded_gguf() -> Path:
    return model_files.locate(GatewaySettings()).path


def under_nehalem(cpuinfo: str, model: Path) -> subprocess.CompletedProcess[str]:
    """Run DECODE on an emulated Nehalem; qemu-user shows the host's /proc/cpuinfo, so the flags of the
    emulated processor are passed as a file."""
    argv = ["qemu-x86_64", "-cpu", "Nehalem", sys.executable, "-c", DECODE, cpuinfo, str(model)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def test_the_embedded_model_decodes_on_a_processor_without_avx(tmp_path: Path, embedded_gguf: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(NEHALEM, NEHALEM))
    done = under_nehalem(str(cpuinfo), embedded_gguf)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == "sse42"
    assert done.stdout.splitlines()[1].startswith("decoded b'")


def test_the_wheels_kernels_alone_die_on_that_processor(embedded_gguf: Path) -> None:
    """What the choice prevents: without it the same decode is killed by an illegal instruction."""
    done = under_nehalem("wheel", embedded_gguf)
    assert done.returncode == -signal.SIGILL, (done.returncode, done.stderr[-2000:])
