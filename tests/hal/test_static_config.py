"""Static addressing from llmos.toml, and bad config leaving the link down (real hal, real netns)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmos.config import parse
from llmos.hal import resolv
from llmos.hal.netconfig import parse_network
from llmos.settings import NetworkSettings

from .halnet import SERVER_IP, Pair, run, start_hal, wait_for


def test_static_address_route_and_dns(pair: Pair, tmp_path: Path) -> None:
    hal = start_hal(pair, tmp_path, config=(
        '[network.interfaces.eth0]\naddress = "10.77.0.5/24"\ngateway = "10.77.0.1"\n'
        'dns = ["10.77.0.53", "10.77.0.54"]\nsearch = ["lan"]\n'))
    wait_for(lambda: "10.77.0.5/24" in (hal.link() or {}).get("addresses", []), 10, "static address")
    link = hal.link()
    assert link["method"] == "static" and link["dhcp"] is None and link["error"] is None
    assert "default via 10.77.0.1 dev eth0" in pair.ip(pair.client, "route")
    assert (hal.run_dir / "resolv.conf").read_text().splitlines()[1:] == [
        "search lan", "nameserver 10.77.0.53", "nameserver 10.77.0.54"]
    # and the address really works: a TCP connection from the client namespace reaches the server
    listener = tmp_path / "listener.log"
    pair.spawn(pair.server, [sys.executable, "-c", (
        "import socket; s = socket.create_server(('10.77.0.1', 7777)); print('listening', flush=True); "
        "c, peer = s.accept(); c.sendall(peer[0].encode())")], log=listener)
    wait_for(lambda: "listening" in listener.read_text(), 10, "listener")
    peer = run("ip", "netns", "exec", pair.client, sys.executable, "-c", (
        f"import socket; print(socket.create_connection(('{SERVER_IP}', 7777), 5).recv(64).decode())"))
    assert peer.strip() == "10.77.0.5"


def test_bad_static_config_keeps_the_link_down(pair: Pair, tmp_path: Path) -> None:
    hal = start_hal(pair, tmp_path, config='[network.interfaces.eth0]\naddress = "10.77.0.5"\n')
    status = hal.call("net")
    assert status["errors"]["eth0"].startswith("network.interfaces.eth0.address:")
    assert "prefix length" in status["errors"]["eth0"]
    link = hal.link()
    assert link["up"] is False and link["error"] == status["errors"]["eth0"]
    assert not [a for a in link["addresses"] if not a.startswith("fe80")]
    assert "state DOWN" in pair.ip(pair.client, "link", "show", "eth0")
    assert "not configured" in hal.log.read_text()
    pair.stop(hal.proc)  # SIGTERM: a clean exit, code 0 (PID 1 treats anything else as a crash)
    assert hal.proc.returncode == 0, hal.log.read_text()


@pytest.mark.parametrize(("table", "where", "words"), [
    ('address = "10.0.0.5"', "address", "prefix length"),
    ('address = "10.0.0.300/24"', "address", "not an IPv4"),
    ('address = "10.0.0.0/24"', "address", "network or broadcast"),
    ('address = "10.0.0.5/24"\ngateway = "10.0.1.1"', "gateway", "outside 10.0.0.0/24"),
    ('address = "10.0.0.5/24"\ndns = ["1.1.1"]', "dns[0]", "not an IPv4"),
    ('address = "10.0.0.5/24"\ndns = "1.1.1.1"', "dns", "list"),
    ('adress = "10.0.0.5/24"', "adress", "unknown key"),
    ('dhcp = false', "", "needs an address"),
    ('dhcp = true\naddress = "10.0.0.5/24"', "", "choose one"),
])
def test_config_errors_are_located(table: str, where: str, words: str) -> None:
    config = parse_network(parse(f"[network.interfaces.eth1]\n{table}\n").settings.network)
    error = config.errors["eth1"]
    prefix = "network.interfaces.eth1" + (f".{where}" if where else "")
    assert error.startswith(prefix + ":"), error
    assert words in error
    assert config.for_link("eth1") is None  # a broken entry is never configured, not even by DHCP


def test_unlisted_wired_links_use_dhcp_unless_disabled() -> None:
    assert parse_network(NetworkSettings()).for_link("eth7").dhcp is True
    assert parse_network(NetworkSettings(dhcp=False)).for_link("eth7") is None


def test_resolv_conf_replaces_the_symlink_target_atomically(tmp_path: Path) -> None:
    target = tmp_path / "run" / "resolv.conf"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "etc-resolv.conf"
    link.symlink_to(target)
    text = resolv.render(["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.4"], ["a", "a"])
    assert resolv.write(link, text) is True
    assert link.is_symlink() and target.read_text() == text
    assert text.count("nameserver") == 3 and "search a\n" in text
    assert resolv.write(link, text) is False  # unchanged: not rewritten
    assert [p.name for p in target.parent.iterdir()] == ["resolv.conf"]  # no temp file left behind
