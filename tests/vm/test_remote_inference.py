"""Issue 12 in the booted image: a fleet machine writes apps through an inference server on the host.

The host runs llama-cpp-python's own OpenAI-compatible server (`llama_host`, the real llama.cpp server
code) serving the embedded GGUF. The VM boots with its address and key as boot credentials (QEMU fw_cfg,
`networked`), as docs/fleet.md tells a fleet to do; the user's llmos.toml names the provider and picks it
as the default. A new prompt then goes through the kernel's flow: the answer must come from that server
(the audit log and the saved record say so, with no fallback to the embedded model) and the app must
run. Every wait is scaled to this machine's speed (pace.py)."""

from __future__ import annotations

from kernel.gateway.llama_server import ALIAS, LlamaServer

from llmos.host.vm import VirtualMachine

from .guest import audit_rows, generate_launched, ipc, launched_window
from .hostnet import FW_CFG, PROVIDER, PROVIDER_URL_CREDENTIAL, guest_url, use_server
from .pace import scaled

PROMPT = "a tip calculator with a bill amount and a tip percentage slider"
GENERATE_S = 240.0  # prompt to running app through the server, at the reference speed (~1 min here)

def test_a_new_app_is_generated_by_the_hosts_inference_server(networked: VirtualMachine,
                                                               llama_host: LlamaServer) -> None:
    machine = networked
    # The boot credentials reached the guest (qemu_fw_cfg, loaded by modalias at coldplug).
    url = machine.run(["cat", f"{FW_CFG}/{PROVIDER_URL_CREDENTIAL}/raw"]).stdout
    assert url == guest_url(llama_host), url

    status = use_server(machine, call_timeout=scaled(40))
    assert status["url"] == guest_url(llama_host), status  # the URL came from the credential
    assert (status["reachable"], status["model_present"], status["default"]) == (True, True, True), status

    audited = len(audit_rows(machine))
    result = generate_launched(machine, PROMPT, scaled(GENERATE_S),
                               f"through {PROVIDER} ({guest_url(llama_host)})")

    # Provenance: the gateway's audit log and the saved record name the server and its model.
    rows = audit_rows(machine)
    new = rows[:len(rows) - audited] if audited < len(rows) else rows[:1]
    assert new and all(row["provider"] == PROVIDER for row in new), new  # no fallback to the local model
    assert new[0]["outcome"] == "ok" and new[0]["model"] == ALIAS, new[0]
    assert result["saved"]["model"] == ALIAS, result["saved"]
    app_hash = result["saved"]["hash"]
    listed = {entry["hash"]: entry for entry in ipc(machine, "kernel", "apps.list")}
    assert app_hash in listed, sorted(listed)

    # The app runs: its window is mapped, and it is still running once it is.
    launched = result["detail"]
    launched_window(machine, launched, scaled(60))
    running = {app["app_id"]: app for app in ipc(machine, "kernel", "apps.running")}
    assert running[launched["app_id"]]["state"] == "running", running
    ipc(machine, "kernel", "apps.stop", app_id=launched["app_id"])
