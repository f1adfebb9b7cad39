"""Small helpers to look inside the booted guest through the agent."""

from __future__ import annotations

import json
from typing import Any

from llmos.host.vm import VirtualMachine, VMError


def ipc(machine: VirtualMachine, service: str, method: str, **params: Any) -> Any:
    """Call a service's JSON-lines socket inside the guest."""
    code = ("import json, sys; from llmos import ipc, paths; params = json.loads(sys.argv[1]); "
            f"print(json.dumps(ipc.call(paths.socket_path({service!r}), {method!r}, **params)))")
    return json.loads(machine.run(["python3", "-c", code, json.dumps(params)]).stdout)


def try_ipc(machine: VirtualMachine, service: str, method: str, **params: Any) -> Any:
    """Like ipc(), but None while the service is (re)starting and its socket does not answer yet."""
    try:
        return ipc(machine, service, method, **params)
    except VMError:
        return None


def services(machine: VirtualMachine) -> dict[str, dict]:
    listed = ipc(machine, "init", "status")
    if isinstance(listed, dict) and "services" in listed:
        listed = listed["services"]
    return {service["name"]: service for service in listed}


LOG_SERVICES = ("kernel", "compositor", "init")  # app hosts write to the kernel's log (their stderr)


def service_logs(machine: VirtualMachine, timeout: float, lines: int = 60, limit: int = 6000) -> str:
    """The guest's recent service logs, each cut to its last `limit` characters, for a failed test's report;
    the serial console's tail when the agent cannot answer (a dead or hung guest)."""
    if not machine.responsive(timeout):
        return "the guest agent does not answer; the serial console instead:" + machine.tail(lines)
    parts = []
    for service in LOG_SERVICES:
        try:
            result = machine.run(["llmos", "logs", service, "-n", str(lines)], timeout=timeout, check=False)
            text = (result.stdout + result.stderr).strip()
        except VMError as error:
            text = f"(no logs: {error})"
        parts.append(f"--- llmos logs {service} (last {lines} lines) ---\n{text[-limit:]}")
    return "\n".join(parts)
