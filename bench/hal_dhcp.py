"""Link up -> DHCP lease, measured: hal in a network namespace against a real dnsmasq over veth.

Each round takes the server end of the veth down (the client loses carrier and drops its lease),
then up again, and times from `ip link set up` to hal's "bound" lease event on its socket.
Needs root. Run: .venv/bin/python bench/hal_dhcp.py [rounds]"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hal"))
from halnet import Subscriber, make_pair, start_dnsmasq, start_hal, wait_for


def main(rounds: int = 5) -> None:
    pair = make_pair()
    try:
        with tempfile.TemporaryDirectory() as work:
            workdir = Path(work)
            start_dnsmasq(pair, workdir)
            pair.ip(pair.server, "link", "set", "vs", "down")
            started = time.monotonic()
            hal = start_hal(pair, workdir, scale=1.0, network_up=False)
            answered = time.monotonic()
            wait_for(lambda: not hal.call("net").get("starting"), 30, "hal's network code loaded")
            print(f"hal start -> socket answers (input): {(answered - started) * 1000:.0f} ms; "
                  f"-> network started: {(time.monotonic() - started) * 1000:.0f} ms")
            events = Subscriber(hal.socket, ["lease"])
            times = []
            for _ in range(rounds):
                begin = time.monotonic()
                pair.ip(pair.server, "link", "set", "vs", "up")
                events.wait(lambda e, d: d["trigger"] == "bound", 30, "bound")
                times.append(time.monotonic() - begin)
                pair.ip(pair.server, "link", "set", "vs", "down")
                wait_for(lambda: not (hal.link() or {}).get("dhcp"), 10, "lease dropped")
            events.close()
            ms = [t * 1000 for t in times]
            print(f"link up -> lease bound, {rounds} rounds: median {statistics.median(ms):.0f} ms, "
                  f"min {min(ms):.0f} ms, max {max(ms):.0f} ms; rounds: "
                  + ", ".join(f"{t:.0f}" for t in ms))
    finally:
        pair.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
