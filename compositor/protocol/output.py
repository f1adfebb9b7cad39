"""wl_output: one output, described in logical (rotated) pixels; rotation is ours, not the client's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pywayland.protocol.wayland import WlOutput

from llmos.compositor.compat import adopt, make_global

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor

MODE_CURRENT, MODE_PREFERRED = 1, 2


class OutputGlobal:
    VERSION = 4

    def __init__(self, server: Compositor) -> None:
        self.server = server
        self.glob = make_global(server.display, WlOutput, self.VERSION, self._bind)

    def _bind(self, resource: Any) -> None:
        adopt(resource, None)
        scene, output = self.server.scene, self.server.output
        resource.geometry(0, 0, 0, 0, 0, "LLM OS", output.name, 0)
        resource.mode(MODE_CURRENT | MODE_PREFERRED, scene.width, scene.height, int(output.refresh_hz * 1000))
        resource.scale(1)
        resource.name(output.name)
        resource.description(f"LLM OS {output.name} output")
        resource.done()
