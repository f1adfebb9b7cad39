"""The shell's first screen, on the display before the Wayland server's code loads.

Under TCG the compositor's start is seconds of Python importing code and running it for the first
time (docs/PERFORMANCE.md). About a third of it is the Wayland server (pywayland, the protocols,
xkbcommon's keymap), asyncio and the shell's kernel link, none of which the first screen needs. So the
compositor paints that screen first, with the shell's own views and layers
(compositor/shell/surfaces.py), and loads the rest after. The shell's first frame has the same pixels
(tests/compositor/test_first_screen.py): when the server takes over, only the pointer appears.

The screen takes no input: nothing reads any until the server runs, and at boot hal delivers keys
seconds later anyway.
"""

from __future__ import annotations

import dataclasses
import select
from typing import Any

import cairocffi as cairo

from llmos.compositor.outputs import Output
from llmos.compositor.scene import Scene
from llmos.compositor.settings import CompositorOptions
from llmos.compositor.shell import surfaces, views
from llmos.compositor.shell.markers import boot_marker
from llmos.compositor.shell.state import ShellState

FLIP_WAIT_S = 1.0  # a page flip completes at the next vertical blank; this only bounds a stuck driver


def paint(options: CompositorOptions, output: Output) -> str:
    """Present the background and what the shell shows before it knows anything: the launcher, or
    nothing in a kiosk or without a shell. Returns what went wrong, or "" (the server paints anyway)."""
    width, height = output.transform.logical_size
    scene = Scene(width, height, lambda: None)
    scene.background = options.background
    state = initial_state(options)
    kind = state.current_panel() if state is not None else None
    if state is not None:
        panel, dock = surfaces.layers(lambda layer, handler, args: None, scene.damage)
        surfaces.show(panel, dock, state, inert_actions(), (width, height), "")
        surfaces.focus_first(panel, kind)
        scene.overlays.append(lambda ctx: surfaces.paint(ctx, panel, dock, backdrop=False))
    shadow = cairo.ImageSurface(cairo.FORMAT_RGB24, width, height)
    scene.render(cairo.Context(shadow), [scene.screen])
    shadow.flush()
    problem = ""
    if output.present(shadow, [scene.screen]) and not _flipped(output):
        problem = f"the first screen's page flip did not complete within {FLIP_WAIT_S:g} s"
    if kind == "launcher":
        boot_marker("shell visible")
    return problem


def initial_state(options: CompositorOptions) -> ShellState | None:
    """The shell's state as it starts, or None when there is no shell."""
    if options.shell is None or not options.shell.enabled:
        return None
    return ShellState.at_start(kiosk=options.mode == "kiosk")


def inert_actions() -> views.Actions:
    """Every widget's action does nothing: this screen takes no input."""

    def ignore(*args: Any) -> None:
        return None

    return views.Actions(**{field.name: ignore for field in dataclasses.fields(views.Actions)})


def _flipped(output: Output) -> bool:
    """Wait for the flip, so the server's first frame does not find one pending."""
    assert output.flip_fd is not None
    while select.select([output.flip_fd], [], [], FLIP_WAIT_S)[0]:
        if output.handle_flip():
            return True
    return False
