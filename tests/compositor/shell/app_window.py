"""A stand-in app window for the stub kernel: a real Wayland client (the SDK's WaylandWindow) with
the app's title, as the app host shows it (app_id "llmos.<app_id>"). Exits on SIGTERM or close."""

from __future__ import annotations

import asyncio
import signal
import sys

from llmos.sdk.render import Renderer
from llmos.sdk.wayland import WaylandWindow


async def main(app_id: str, title: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    window = WaylandWindow(Renderer(), title=title, app_id=f"llmos.{app_id}", on_close=stop.set)
    await window.start()
    tree = {"type": "Window", "props": {"title": title, "width": 360},
            "children": [{"type": "Text", "props": {"size": "lg"}, "children": [title]},
                         {"type": "Button", "props": {"onClick": {"$handler": 1}}, "children": ["OK"]}]}
    window.update(tree)
    await stop.wait()
    window.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
