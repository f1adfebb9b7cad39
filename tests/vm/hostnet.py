"""Real servers on the host that the guest reaches through QEMU's user network, where the host's loopback
is 10.0.2.2: boot credentials naming them, and pointing the guest's gateway at an inference server.
Used by tests/vm (conftest.py's `networked` VM) and bench/e2e_vm.py."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernel.gateway.llama_server import ALIAS, LlamaServer

from llmos.host.vm import VirtualMachine

from .guest import ipc

HOST = "10.0.2.2"  # QEMU's user network: the host's loopback, as the guest sees it
PROVIDER = "hostllama"  # the provider's name in the guest's llmos.toml
PROVIDER_URL_CREDENTIAL = "llmos_provider_url"  # the names docs/fleet.md gives a fleet's credentials
PROVIDER_KEY_CREDENTIAL = "llmos_provider_key"
FW_CFG = "/sys/firmware/qemu_fw_cfg/by_name/opt/io.systemd.credentials"  # where the guest reads them


def credential(name: str, value: str) -> list[str]:
    """QEMU arguments that hand the guest a systemd-style credential through fw_cfg (gateway/cloud.py)."""
    return ["-fw_cfg", f"name=opt/io.systemd.credentials/{name},string={value}"]


def guest_url(server: LlamaServer) -> str:
    return f"http://{HOST}:{server.port}/v1"


def server_credentials(server: LlamaServer, key: str) -> list[str]:
    """QEMU arguments for a VM of a fleet that uses `server`: its address and key as boot credentials."""
    return [*credential(PROVIDER_URL_CREDENTIAL, guest_url(server)),
            *credential(PROVIDER_KEY_CREDENTIAL, key)]


def use_server(machine: VirtualMachine, call_timeout: float = 120.0) -> dict[str, Any]:
    """Name the server in the user's llmos.toml, its address and key left to the boot credentials, then
    make it the default through the kernel, as the shell's settings do. Returns its health as the kernel
    reports it (gateway.providers). `call_timeout`: what the kernel may take to answer (it builds the
    gateway and asks each provider for its models; under TCG, right after boot, that takes tens of s)."""
    entry = {"name": PROVIDER, "base_url_credential": PROVIDER_URL_CREDENTIAL,
             "key_credential": PROVIDER_KEY_CREDENTIAL, "model": ALIAS, "tier": "spec",
             # llama-cpp-python's server takes no json_schema response_format, and its grammar converter
             # ends the process on some of the app language's patterns: unconstrained, as in
             # tests/kernel/gateway/test_openai_server.py (the answer is checked on the machine anyway)
             "constrain": "none", "timeout": 300.0}
    save = ("import json, sys; from llmos import config; "
            "config.save_user_setting('gateway', 'providers', json.loads(sys.argv[1]))")
    machine.run(["python3", "-c", save, json.dumps([entry])])
    # settings.set re-reads llmos.toml and drops the gateway built from the old one (kernel/service.py)
    cloud_model = ipc(machine, "kernel", "settings.get")["gateway"]["cloud_model"]
    ipc(machine, "kernel", "settings.set", section="gateway", key="cloud_model", value=cloud_model,
        call_timeout=call_timeout)
    health = ipc(machine, "kernel", "gateway.default", name=PROVIDER, call_timeout=call_timeout)
    return dict(next(p for p in health["providers"] if p["name"] == PROVIDER))


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[int]:
    """A real HTTP server on the host's loopback, which QEMU's user network shows the guest at 10.0.2.2."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
