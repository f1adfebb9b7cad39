"""What `ci/boot.sh` promises: in the booted image, with no network and no key, a new prompt becomes a
running app written by the embedded model in the guest. Under TCG the guest sees no AVX (host/vm.py), so
llama.cpp runs the image's SSE4.2 kernels; with the AVX2 ones this took 10-25 minutes, now about 3
(docs/PERFORMANCE.md, "End to end in the VM"). Every wait is scaled to this machine's speed (pace.py)."""

from __future__ import annotations

from llmos.host.vm import VirtualMachine

from .guest import audit_rows, generate_launched, ipc, launched_window
from .pace import scaled

PROMPT = "a tip calculator with a bill amount and a tip percentage slider"
GENERATE_S = 240.0  # prompt to running app with the embedded model at the reference speed (~60 s)


def test_a_new_app_is_written_by_the_embedded_model_in_the_guest(machine: VirtualMachine) -> None:
    result = generate_launched(machine, PROMPT, scaled(GENERATE_S), "with the embedded model in the guest")
    rows = audit_rows(machine)
    assert rows[0]["provider"] == "local" and rows[0]["outcome"] == "ok", rows[0]
    local = next(p for p in ipc(machine, "kernel", "gateway.providers")["providers"] if p["name"] == "local")
    assert local["detail"].startswith("loaded in"), local
    assert ("SSE4.2 kernels" if machine.accel == "tcg" else "kernels") in local["detail"], local

    # The image's baked library vectors are the ones the guest looks for: otherwise the kernel encodes
    # the whole library under TCG (minutes) and says so (kernel/applang/meaning.py).
    kernel_log = machine.run(["llmos", "logs", "kernel", "-n", "5000"], timeout=scaled(30)).stdout
    assert "example vectors: /usr/share/llmos/models/" in kernel_log, kernel_log[-3000:]
    assert "none baked or cached" not in kernel_log, kernel_log[-3000:]

    launched = result["detail"]
    launched_window(machine, launched, scaled(60))
    ipc(machine, "kernel", "apps.stop", app_id=launched["app_id"])
