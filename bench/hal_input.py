"""evdev read -> subscriber latency on a recorded stream.

An in-process hal (network disabled) reads a recorded keyboard through a pipe with python-evdev's
reader; a subscriber on hal's real Unix socket receives the "input" events. Latency is from the
os.write of one key event (+SYN) to its arrival at the subscriber. A second figure streams a
burst and reports throughput. Run: .venv/bin/python bench/hal_input.py [events]"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hal"))
import recorded
from evdev import ecodes as e

from llmos import config as llmos_config
from llmos import ipc
from llmos.hal.input import RecordedDevice
from llmos.hal.service import Hal


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        hal = Hal(llmos_config.parse(""), network=False)
        socket = Path(work) / "hal.sock"
        await hal.start(socket)
        client = await ipc.Client.connect(socket)
        await client.call("subscribe", events=["input"])
        read_end, write_end = os.pipe()
        assert hal.input is not None
        hal.input.attach_recorded("kbd", RecordedDevice(read_end, recorded.KEYBOARD), "recorded keyboard")
        latencies = []
        for i in range(count):
            begin = time.perf_counter()
            os.write(write_end, recorded.key(e.KEY_A, i % 2))
            for _ in range(2):  # the key and its SYN_REPORT
                await client.events.get()
            latencies.append((time.perf_counter() - begin) * 1e6)
        latencies.sort()
        print(f"write -> subscriber, {count} key events: median {statistics.median(latencies):.0f} us, "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.0f} us")
        burst = b"".join(recorded.key(e.KEY_B, i % 2) for i in range(count))
        begin = time.perf_counter()
        os.write(write_end, burst[:65536])  # one pipe-full; the rest as the reader drains it
        rest = burst[65536:]
        loop = asyncio.get_running_loop()
        writer = loop.run_in_executor(None, os.write, write_end, rest) if rest else None
        for _ in range(2 * count):
            await client.events.get()
        if writer:
            await writer
        elapsed = time.perf_counter() - begin
        print(f"burst of {2 * count} events: {2 * count / elapsed:.0f} events/s to one subscriber")
        os.close(write_end)
        await client.close()
        await hal.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
