"""Two machines and a server, each in its own network namespace: host A (10.78.1.2) and host B
(10.78.2.2) reach the server only over their own veth pair (10.78.1.1, 10.78.2.1), where `git daemon`
serves the community registry. A publishes, B trusts A's key, pulls, rates and publishes back; A pulls
B's rating. Every `llmos app` command runs inside its host's namespace."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from waiting import wait_for

from llmos.kernel.starter import STARTERS

from .gitserver import bare, stop

_count = itertools.count()


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Net:
    server: str
    hosts: dict[str, str]  # host namespace -> the server's address as that host sees it
    procs: list[subprocess.Popen] = field(default_factory=list)

    def run(self, ns: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], env=env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)
        for ns in (self.server, *self.hosts):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def make_net() -> Net:
    tag = f"reg{os.getpid() % 100000}x{next(_count)}"
    net = Net(f"{tag}s", {f"{tag}a": "10.78.1.1", f"{tag}b": "10.78.2.1"})
    try:
        ip("netns", "add", net.server)
        ip("-n", net.server, "link", "set", "lo", "up")
        for n, (host, server_ip) in enumerate(net.hosts.items(), start=1):
            ip("netns", "add", host)
            ip("-n", host, "link", "add", "eth0", "type", "veth", "peer", "name", f"v{n}",
               "netns", net.server)
            ip("-n", net.server, "addr", "add", f"{server_ip}/24", "dev", f"v{n}")
            ip("-n", net.server, "link", "set", f"v{n}", "up")
            ip("-n", host, "addr", "add", f"10.78.{n}.2/24", "dev", "eth0")
            ip("-n", host, "link", "set", "eth0", "up")
            ip("-n", host, "link", "set", "lo", "up")
    except Exception:
        net.close()
        raise
    return net


@pytest.fixture
def net() -> Iterator[Net]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    try:
        created = make_net()
    except RuntimeError as error:
        pytest.skip(f"cannot create network namespaces here: {error}")
    try:
        yield created
    finally:
        created.close()


def test_two_hosts_share_through_a_server_in_namespaces(net: Net, tmp_path: Path) -> None:
    bare(tmp_path / "srv" / "hub.git")
    net.procs.append(subprocess.Popen(
        ["ip", "netns", "exec", net.server, "git", "daemon", "--reuseaddr", f"--base-path={tmp_path / 'srv'}",
         "--export-all", "--enable=receive-pack", "--listen=0.0.0.0", str(tmp_path / "srv")],
        stderr=subprocess.DEVNULL))
    (host_a, server_a), (host_b, server_b) = net.hosts.items()
    probe = "import socket,sys; socket.create_connection((sys.argv[1], 9418), timeout=1).close()"
    for host, server_ip in net.hosts.items():
        wait_for(lambda h=host, s=server_ip: net.run(h, sys.executable, "-c", probe, s).returncode == 0,
                 what=f"git daemon reachable from {host}")

    def llmos(host: str, state: str, *args: str) -> str:
        env = {**os.environ, "LLMOS_STATE_DIR": str(tmp_path / state),
               "LLMOS_CONFIG": str(tmp_path / "none.toml")}
        done = net.run(host, sys.executable, "-m", "llmos.cli", "app", *args, env=env)
        assert done.returncode == 0, f"{host}: llmos app {' '.join(args)}: {done.stderr}"
        return done.stdout

    # B cannot see A: the only link each host has goes to the server.
    assert net.run(host_b, sys.executable, "-c", probe, "10.78.1.2").returncode != 0

    llmos(host_a, "a", "seed")
    llmos(host_a, "a", "remote", "add", "hub", f"git://{server_a}/hub.git")
    assert "published" in llmos(host_a, "a", "push", "hub")
    (tmp_path / "a.pem").write_text(llmos(host_a, "a", "key", "show", "--pem"))

    llmos(host_b, "b", "remote", "add", "hub", f"git://{server_b}/hub.git")
    llmos(host_b, "b", "trust", "add", "host-a", str(tmp_path / "a.pem"))
    # all trusted: none listed untrusted
    assert f"hub: {len(STARTERS)} new apps," in llmos(host_b, "b", "pull", "hub")
    apps = json.loads(llmos(host_b, "b", "list", "--json"))
    assert len(apps) == len(STARTERS) and all(a["audited"] for a in apps)  # host A's audits, by a trusted key
    pomodoro = next(a["codeHash"] for a in apps if "pomodoro" in a["prompt"])
    assert "from hub, by host-a" in llmos(host_b, "b", "provenance", pomodoro)
    llmos(host_b, "b", "rate", pomodoro, "5")
    assert "published" in llmos(host_b, "b", "push", "hub")

    pulled = json.loads(llmos(host_a, "a", "pull", "hub", "--json"))
    assert pulled["statements"] == 1 and pulled["new_apps"] == []
    ratings = json.loads(llmos(host_a, "a", "provenance", pomodoro, "--json"))["ratings"]
    assert [(signer["name"], stars) for signer, stars in ratings] == [(None, 5.0)]  # B is not trusted by A
