"""Network-namespace plumbing for hal's network tests: a client namespace whose eth0 is one end
of a veth pair and a server namespace holding the other end ("vs", 10.77.0.1/24). Namespaces are
deleted even when a test fails; deleting a namespace also deletes the veth pair."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waiting import wait_for

from llmos import ipc

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
SERVER_IP = "10.77.0.1"
_counter = itertools.count()


def run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Pair:
    client: str
    server: str
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def ip(self, ns: str, *args: str) -> str:
        return run("ip", "-n", ns, *args)

    def spawn(self, ns: str, argv: list[str], env: dict[str, str] | None = None,
              log: Path | None = None) -> subprocess.Popen[str]:
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=env, text=True,
                                stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)
        for ns in (self.client, self.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def make_pair() -> Pair:
    tag = f"halt{os.getpid() % 100000}x{next(_counter)}"
    pair = Pair(f"{tag}c", f"{tag}s")
    try:
        run("ip", "netns", "add", pair.client)
        run("ip", "netns", "add", pair.server)
        run("ip", "-n", pair.client, "link", "add", "eth0", "type", "veth", "peer", "name", "vs",
            "netns", pair.server)
        pair.ip(pair.server, "addr", "add", f"{SERVER_IP}/24", "dev", "vs")
        pair.ip(pair.server, "link", "set", "vs", "up")
        pair.ip(pair.server, "link", "set", "lo", "up")
    except Exception:
        pair.close()
        raise
    return pair


def start_dnsmasq(pair: Pair, workdir: Path, lease: str = "2m") -> subprocess.Popen[str]:
    log = workdir / "dnsmasq.log"
    proc = pair.spawn(pair.server, [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=vs",
        "--bind-interfaces", f"--dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,{lease}",
        f"--dhcp-option=option:router,{SERVER_IP}", "--dhcp-option=option:dns-server,10.77.0.53",
        "--dhcp-option=option:domain-name,hal.test", f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}",
        "--pid-file", "--log-dhcp", "--dhcp-authoritative",
    ], log=log)
    wait_for(lambda: "DHCP, IP range" in log.read_text() or proc.poll() is not None, 10, "dnsmasq start")
    assert proc.poll() is None, log.read_text()
    return proc


@dataclass
class HalProcess:
    proc: subprocess.Popen[str]
    socket: Path
    run_dir: Path
    log: Path

    def call(self, method: str, **params: Any) -> Any:
        return ipc.call(self.socket, method, timeout=10, **params)

    def link(self, name: str = "eth0") -> dict[str, Any] | None:
        status = self.call("net")
        return next((link for link in status["links"] if link["name"] == name), None)

    def dhcp_state(self, name: str = "eth0") -> str | None:
        link = self.link(name)
        return (link.get("dhcp") or {}).get("state") if link else None


def start_hal(pair: Pair, workdir: Path, config: str = "", scale: float = 0.02,
              argv: tuple[str, ...] = ("-m", "llmos.hal"), network_up: bool = True) -> HalProcess:
    """hal in the client namespace, once its socket answers and (`network_up`) its network code has
    loaded and brought the links up: hal answers first and starts its network next."""
    run_dir = workdir / "run"
    config_file = workdir / "llmos.toml"
    config_file.write_text(config)
    env = dict(os.environ, LLMOS_RUN_DIR=str(run_dir), LLMOS_CONFIG=str(config_file),
               LLMOS_STATE_DIR=str(workdir / "state"), LLMOS_HAL_DHCP_TIME_SCALE=str(scale),
               PYTHONUNBUFFERED="1")
    log = workdir / "hal.log"
    proc = pair.spawn(pair.client, [str(PYTHON), *argv], env=env, log=log)
    socket = run_dir / "hal.sock"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"hal exited with {proc.returncode}:\n{log.read_text()}")
        try:
            starting = ipc.call(socket, "net", timeout=2).get("starting")
            return not (network_up and starting)
        except (TimeoutError, OSError, ConnectionError):
            return False

    wait_for(ready, 20, "hal socket")
    return HalProcess(proc, socket, run_dir, log)


class Subscriber:
    """A subscription with its own event loop; pushed events are read on demand by `wait`, each
    event matched at most once, in arrival order."""

    def __init__(self, socket: Path, kinds: list[str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.client: ipc.Client = self.loop.run_until_complete(self._connect(socket, kinds))
        self.seen: list[tuple[str, Any]] = []
        self.cursor = 0

    async def _connect(self, socket: Path, kinds: list[str]) -> ipc.Client:
        client = await ipc.Client.connect(socket)
        await client.call("subscribe", events=kinds)
        return client

    def wait(self, match: Callable[[str, Any], bool], timeout: float, what: str) -> Any:
        while self.cursor < len(self.seen):
            event, data = self.seen[self.cursor]
            self.cursor += 1
            if match(event, data):
                return data

        async def next_match() -> Any:
            while True:
                event, data = await self.client.events.get()
                self.seen.append((event, data))
                self.cursor = len(self.seen)
                if match(event, data):
                    return data

        try:
            return self.loop.run_until_complete(asyncio.wait_for(next_match(), timeout))
        except TimeoutError:
            raise AssertionError(f"no {what} event within {timeout}s; saw {self.seen[-10:]}") from None

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()

