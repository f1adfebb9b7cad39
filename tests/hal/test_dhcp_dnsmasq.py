"""hal's DHCP client against a real dnsmasq over a veth pair between two network namespaces.

dnsmasq's shortest lease is 120 s, so hal runs with LLMOS_HAL_DHCP_TIME_SCALE=0.02: T1 falls at
about 1.2 s, T2 at 2.1 s and expiry at 2.4 s, while the protocol exchange itself is unchanged."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from .halnet import SERVER_IP, Pair, Subscriber, start_dnsmasq, start_hal, wait_for


def _address(hal, name: str = "eth0") -> str | None:
    link = hal.link(name)
    addresses = [a for a in (link or {}).get("addresses", []) if a.startswith("10.77.")]
    return addresses[0] if addresses else None


def test_lease_renew_and_expiry(pair: Pair, tmp_path: Path) -> None:
    hal = start_hal(pair, tmp_path)
    events = Subscriber(hal.socket, ["lease"])  # subscribe before the server exists: no event is missed
    try:
        dnsmasq = start_dnsmasq(pair, tmp_path)
        bound = events.wait(lambda e, d: d["trigger"] == "bound", 15, "bound")
        assert ipaddress.ip_address(bound["address"].split("/")[0]) in ipaddress.ip_network("10.77.0.0/24")
        assert bound["address"].endswith("/24") and bound["gateway"] == SERVER_IP
        assert bound["lease_time"] == 120
        address = wait_for(lambda: _address(hal), 5, "address on eth0")
        assert address == bound["address"]
        routes = hal.call("net")["routes"]
        assert {"dst": "default", "gateway": SERVER_IP, "dev": "eth0"} in routes
        resolv = (hal.run_dir / "resolv.conf").read_text()
        assert "nameserver 10.77.0.53" in resolv and "search hal.test" in resolv

        # T1 (scaled to ~1.2 s): a unicast REQUEST to dnsmasq extends the lease
        renewed = events.wait(lambda e, d: d["trigger"] == "renewed", 10, "renewed")
        assert renewed["address"] == bound["address"]
        assert renewed["expires_at"] > bound["expires_at"]

        # server gone: RENEWING, then REBINDING, then the lease expires and the address goes
        pair.stop(dnsmasq)
        events.wait(lambda e, d: d["trigger"] == "expired", 15, "expired")
        wait_for(lambda: _address(hal) is None, 5, "address removed after expiry")
        assert "default" not in [r["dst"] for r in hal.call("net")["routes"]]
        assert "nameserver" not in (hal.run_dir / "resolv.conf").read_text()
        # and it keeps looking for a server (with backoff) instead of giving up
        wait_for(lambda: hal.dhcp_state() in ("SELECTING", "INIT"), 5, "back to discovery")
        assert hal.proc.poll() is None
    finally:
        events.close()


def test_link_down_drops_lease_and_up_restarts_dhcp(pair: Pair, tmp_path: Path) -> None:
    start_dnsmasq(pair, tmp_path)
    hal = start_hal(pair, tmp_path, scale=1.0)  # real lease times: nothing may expire by itself here
    first = wait_for(lambda: _address(hal), 15, "first lease")
    pair.ip(pair.server, "link", "set", "vs", "down")  # the client's eth0 loses carrier
    wait_for(lambda: _address(hal) is None, 5, "address dropped on carrier loss")
    link = hal.link()
    assert link["carrier"] is False and link["dhcp"] is None
    assert not (hal.run_dir / "hal" / "leases" / "eth0.lease.json").exists()
    pair.ip(pair.server, "link", "set", "vs", "up")
    again = wait_for(lambda: _address(hal), 15, "lease after carrier returns")
    assert hal.dhcp_state() == "BOUND"
    assert again == first  # dnsmasq remembers the client
