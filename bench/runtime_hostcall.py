"""A capability-checked host call vs a bare quickjs-rs callback.

bare:    JS calls a registered Python function that returns a constant.
checked: JS calls storage.get through the SDK: host function -> kernel socket (JSON line) -> broker
         -> authority.check (expiry, revocation, scope; audit) -> per-app SQLite -> back.
Also: authority.check alone and a full Biscuit verification, in-process.

    .venv/bin/python bench/runtime_hostcall.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import quickjs_rs
from runtime_common import KernelThread

from llmos.kernel.caps.authority import utcnow
from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.guest import Guest
from llmos.kernel.sandbox.syncrpc import SyncClient
from llmos.kernel.sandbox.transpile import transpile


def js_loop(context, call: str, n: int) -> float:
    started = time.perf_counter()
    context.eval(f"for (let i = 0; i < {n}; i++) {{ {call}; }}")
    return (time.perf_counter() - started) / n


def main(calls: int) -> None:
    wasmcache.install(Path(tempfile.mkdtemp(prefix="llw")))
    runtime = quickjs_rs.Runtime()
    context = runtime.new_context(timeout=600)
    context.register("bare", lambda *args: 1)
    bare = js_loop(context, "bare('k')", calls)
    runtime.close()

    kernel = KernelThread()
    token = kernel.authority.mint("bench", ["storage:local", "ui:window"])
    client = SyncClient(kernel.socket)

    def storage_get(key: str) -> dict:
        return {"ok": True, "value": client.call("app.storage.get", token=token, key=key)}

    guest = Guest(frozenset({"storage:local", "ui:window"}), {"storage_get": storage_get})
    guest.context._timeout = 600
    app = "import { ui, storage } from '@llm-os/sdk';\nexport default () => ui.Text('x');\n"
    guest.load(transpile(app).code, 0)
    # Reach the SDK's storage.get the way app code does, from inside the guest.
    sdk = guest.api.get("sdk")
    storage = sdk.get("storage")
    guest.context.globals["__storage"] = storage
    checked = js_loop(guest.context, "__storage.get('k')", calls)

    grant_checks = 20000
    started = time.perf_counter()
    for _ in range(grant_checks):
        kernel.authority.check(token, "storage:local", "storage.get k", audit_allow=False)
    cheap = (time.perf_counter() - started) / grant_checks
    started = time.perf_counter()
    for _ in range(200):
        kernel.authority.verify(token, now=utcnow())
    full = (time.perf_counter() - started) / 200
    client.close()
    kernel.stop()

    print(f"bare quickjs-rs callback:           {bare * 1e6:8.1f} us/call")
    print(f"capability-checked host call:       {checked * 1e6:8.1f} us/call (storage.get, kernel socket)")
    print(f"ratio checked / bare:               {checked / bare:8.1f}x")
    print(f"authority.check alone (cheap path): {cheap * 1e6:8.2f} us/call")
    print(f"full Biscuit verify (launch path):  {full * 1e6:8.1f} us/call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    main(parser.parse_args().calls)
