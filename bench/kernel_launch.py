"""flow.start (cached starter app) -> the app's first frame visible in the compositor, through the
real kernel service and a real headless compositor (both subprocesses, as PID 1 runs them).

"Visible" = the compositor pushes its "window" event with `change: mapped` for a window of the app
host's pid (a toplevel is mapped once it committed its first buffer); until 2026-12-03 the bench
polled the window list every 5 ms, which added up to 5 ms (2.5 on average) to every figure.
Cold = first launch of a kernel whose compiled-QuickJS cache is empty; warm = later launches (cache
filled, app stopped between).
Also: kernel start -> socket ready, and apps.run (no questions) -> visible. And the first launch as
an image boots: the wasm cache empty but the image's precompiled module there (LLMOS_WASM_IMAGE_DIR,
as /usr/lib/llmos/wasm) and its prebuilt cairo and pango bindings (LLMOS_FFI_DIR, as /usr/lib/llmos/ffi;
llmos/prebuilt_ffi.py), apps.run of an app never run by that kernel, right after the kernel's socket
accepts and, on another fresh system, once the kernel has settled (its zygote said ready). Each
figure is taken with app hosts spawned anew ([sandbox] prefork = false, the baseline) and forked
from the zygote.

    .venv/bin/python bench/kernel_launch.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from kernel.harness import System, make_system, remove
from waiting import wait_for

from llmos import ipc, prebuilt_ffi
from llmos.kernel.sandbox import wasmcache


async def mapped(comp: ipc.Client, pid: int) -> None:
    """Until the compositor says a window of `pid` is mapped (comp subscribed to "window" events)."""
    while True:
        name, data = await comp.events.get()
        if name == "window" and data.get("change") == "mapped" and data.get("pid") == pid:
            return


async def watching_windows(system: System) -> ipc.Client:
    comp = await ipc.Client.connect(system.run / "compositor.sock")
    await comp.call("subscribe", events=["window"])
    return comp


async def flow_to_visible(system: System, prompt: str) -> tuple[float, float, str]:
    """(seconds to 'launched', seconds to visible, app_id)."""
    client = await ipc.Client.connect(system.kernel_socket)
    comp = await watching_windows(system)
    try:
        started = time.perf_counter()
        flow = (await client.call("flow.start", prompt=prompt))["flow"]
        while True:
            name, data = await client.events.get()
            if name != "flow":
                continue
            if data["event"] == "offered-cached":
                await client.call("flow.answer", flow=flow, accept_cached=True)
            elif data["event"] == "needs-approval":
                await client.call("flow.approve", flow=flow, granted=[a["scope"] for a in data["asks"]])
            elif data["event"] == "failed":
                raise RuntimeError(data["reason"])
            elif data["event"] == "launched":
                launched_at = time.perf_counter() - started
                pid, app_id = data["pid"], data["app_id"]
                break
        await asyncio.wait_for(mapped(comp, pid), 60)
        return launched_at, time.perf_counter() - started, app_id
    finally:
        await client.close()
        await comp.close()


async def run_to_visible(system: System, ref: str) -> tuple[float, str]:
    client = await ipc.Client.connect(system.kernel_socket)
    comp = await watching_windows(system)
    try:
        listed = {entry["hash"]: entry for entry in await client.call("apps.list")}
        granted = next(entry["capabilities"] for h, entry in listed.items() if h.startswith(ref) or h == ref)
        started = time.perf_counter()
        app = await client.call("apps.run", ref=ref, granted=granted)  # approved before: no dialog
        await asyncio.wait_for(mapped(comp, app["pid"]), 60)
        return time.perf_counter() - started, app["app_id"]
    finally:
        await client.close()
        await comp.close()


def ms(values: list[float]) -> str:
    each = ", ".join(f"{v * 1000:.0f}" for v in values)
    return f"median {statistics.median(values) * 1000:.0f} ms ({each})"


MODES = {"spawned": "[sandbox]\nprefork = false\n", "forked": ""}  # each host started anew; the zygote


def measure(runs: int, extra_config: str) -> dict[str, list[float]]:
    names = ("start", "cold_launched", "cold", "warm_launched", "warm", "direct")
    figures: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        system = make_system(extra_config)  # fresh state: empty wasm cache, first boot
        try:
            system.start_compositor()
            figures["start"].append(system.start_kernel())
            launched, visible, app_id = asyncio.run(flow_to_visible(system, "pomodoro timer"))
            figures["cold"].append(visible)
            figures["cold_launched"].append(launched)
            system.call("apps.stop", app_id=app_id)
            launched, visible, app_id = asyncio.run(flow_to_visible(system, "pomodoro timer"))
            figures["warm"].append(visible)
            figures["warm_launched"].append(launched)
            system.call("apps.stop", app_id=app_id)
            counter = system.call("apps.search", text="counter", limit=1)[0]["hash"]
            seconds, app_id = asyncio.run(run_to_visible(system, counter))
            figures["direct"].append(seconds)
            system.call("apps.stop", app_id=app_id)
        finally:
            remove(system)
    return figures


def first_launch(extra_config: str, image: Path, settled: bool) -> float:
    """apps.run of a seeded app on a fresh system that has the image's precompiled module and bindings."""
    system = make_system(extra_config)
    system.env["LLMOS_WASM_IMAGE_DIR"] = str(image / "wasm")
    system.env["LLMOS_FFI_DIR"] = str(image / "ffi")
    try:
        system.start_compositor()
        system.start_kernel()
        if settled and "prefork = false" not in extra_config:
            log = system.root / "kernel.log"
            wait_for(lambda: "zygote ready" in log.read_text(errors="replace"), 60, "the zygote to be ready")
        counter = system.call("apps.search", text="counter", limit=1)[0]["hash"]
        seconds, app_id = asyncio.run(run_to_visible(system, counter))
        system.call("apps.stop", app_id=app_id)
        return seconds
    finally:
        remove(system)


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="llmos-image.") as directory:
        image = Path(directory)
        wasmcache.compile_generic(image / "wasm")
        prebuilt_ffi.generate(image / "ffi")
        for mode, config in MODES.items():
            at_once = [first_launch(config, image, settled=False) for _ in range(runs)]
            settled = [first_launch(config, image, settled=True) for _ in range(runs)]
            print(f"-- app hosts {mode}, the image's precompiled module and bindings, first launch of a "
                  "fresh kernel")
            print(f"apps.run -> visible, right after the socket accepts: {ms(at_once)}")
            print(f"apps.run -> visible, once the kernel has settled:    {ms(settled)}")
    results = {mode: measure(runs, config) for mode, config in MODES.items()}
    for mode, figures in results.items():
        print(f"-- app hosts {mode}")
        print(f"kernel start -> socket ready (first boot, seeds 8 apps): {ms(figures['start'])}")
        print(f"flow.start -> launched, cold wasm cache: {ms(figures['cold_launched'])}")
        print(f"flow.start -> first frame visible, cold:  {ms(figures['cold'])}")
        print(f"flow.start -> launched, warm:             {ms(figures['warm_launched'])}")
        print(f"flow.start -> first frame visible, warm:  {ms(figures['warm'])}")
        print(f"apps.run -> first frame visible, warm:    {ms(figures['direct'])}")
    spawned, forked = results["spawned"], results["forked"]
    for name, label in (("warm", "flow.start -> visible, warm"), ("direct", "apps.run -> visible, warm"),
                        ("cold", "flow.start -> visible, cold")):
        print(f"{label}: forked / spawned = "
              f"{statistics.median(forked[name]) / statistics.median(spawned[name]):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
