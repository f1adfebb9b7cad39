"""xdg_wm_base, xdg_positioner, xdg_surface, xdg_toplevel and xdg_popup.

The configure/ack handshake is enforced: a buffer before the first ack, or an ack of a serial we never
sent, is a protocol error. Size and state decisions belong to the window manager (wm.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pywayland.protocol.wayland import WlOutputResource, WlSeatResource, WlSurfaceResource
from pywayland.protocol.xdg_shell import (
    XdgPopupResource,
    XdgPositionerResource,
    XdgSurfaceResource,
    XdgToplevelResource,
    XdgWmBase,
    XdgWmBaseResource,
)

from llmos.compositor.compat import ProtocolError, adopt, create, make_global
from llmos.compositor.protocol.core import SurfaceHandler, handler_of
from llmos.compositor.scene import Rect, Surface, Window

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor

# xdg_wm_base errors
ROLE, INVALID_POPUP_PARENT, INVALID_POSITIONER = 0, 3, 5
# xdg_surface errors
NOT_CONSTRUCTED, ALREADY_CONSTRUCTED, UNCONFIGURED_BUFFER, INVALID_SERIAL, INVALID_SIZE = 1, 2, 3, 4, 5
# xdg_toplevel errors
TOPLEVEL_INVALID_SIZE = 2
# xdg_positioner errors
INVALID_INPUT = 0
# xdg_toplevel states
MAXIMIZED, FULLSCREEN, RESIZING, ACTIVATED = 1, 2, 3, 4
# xdg_toplevel wm_capabilities
CAP_MAXIMIZE, CAP_FULLSCREEN = 2, 3


class WmBaseGlobal:
    VERSION = 5

    def __init__(self, server: Compositor) -> None:
        self.server = server
        self.glob = make_global(server.display, XdgWmBase, self.VERSION, lambda r: adopt(r, self))

    def create_positioner(self, resource: XdgWmBaseResource, new_id: int) -> None:
        PositionerHandler(resource, new_id)

    def get_xdg_surface(self, resource: XdgWmBaseResource, new_id: int, surface: WlSurfaceResource) -> None:
        handler = handler_of(surface, SurfaceHandler)
        if handler is None:
            raise ProtocolError(resource, ROLE, "not a surface")
        if handler.surface.role is not None or handler.surface.image is not None:
            raise ProtocolError(resource, ROLE, "the surface already has a role or a buffer")
        XdgSurfaceHandler(self.server, resource, new_id, handler.surface)

    def pong(self, resource: XdgWmBaseResource, serial: int) -> None:
        pass


@dataclass
class Placement:
    width: int = 0
    height: int = 0
    anchor_rect: Rect = field(default_factory=lambda: Rect(0, 0, 0, 0))
    anchor: int = 0
    gravity: int = 0
    offset: tuple[int, int] = (0, 0)

    def position(self) -> tuple[int, int]:
        """Top-left of the popup relative to the parent's window geometry (no constraint solving)."""
        ar = self.anchor_rect
        ax = _edge(self.anchor, (3, 5, 6), (4, 7, 8), ar.x, ar.x + ar.w)
        ay = _edge(self.anchor, (1, 5, 7), (2, 6, 8), ar.y, ar.y + ar.h)
        x = _edge(self.gravity, (3, 5, 6), (4, 7, 8), ax - self.width, ax)
        y = _edge(self.gravity, (1, 5, 7), (2, 6, 8), ay - self.height, ay)
        return x + self.offset[0], y + self.offset[1]


def _edge(value: int, low: tuple[int, ...], high: tuple[int, ...], at_low: int, at_high: int) -> int:
    """Pick the low edge, the high edge or the middle, by anchor/gravity enum value."""
    if value in low:
        return at_low
    if value in high:
        return at_high
    return (at_low + at_high) // 2


class PositionerHandler:
    def __init__(self, parent: XdgWmBaseResource, new_id: int) -> None:
        self.placement = Placement()
        create(XdgPositionerResource, parent, new_id, self)

    def set_size(self, resource: XdgPositionerResource, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise ProtocolError(resource, INVALID_INPUT, "positioner size must be positive")
        self.placement.width, self.placement.height = width, height

    def set_anchor_rect(self, resource: XdgPositionerResource, x: int, y: int, width: int,
                        height: int) -> None:
        if width < 0 or height < 0:
            raise ProtocolError(resource, INVALID_INPUT, "anchor rectangle size must not be negative")
        self.placement.anchor_rect = Rect(x, y, width, height)

    def set_anchor(self, resource: XdgPositionerResource, anchor: int) -> None:
        self.placement.anchor = anchor

    def set_gravity(self, resource: XdgPositionerResource, gravity: int) -> None:
        self.placement.gravity = gravity

    def set_offset(self, resource: XdgPositionerResource, x: int, y: int) -> None:
        self.placement.offset = (x, y)


class XdgSurfaceHandler:
    """The xdg_surface role of a wl_surface; commits reach it through `commit`."""

    def __init__(self, server: Compositor, parent: XdgWmBaseResource, new_id: int, surface: Surface) -> None:
        self.server = server
        self.surface = surface
        self.resource = create(XdgSurfaceResource, parent, new_id, self, self._destroyed)
        self.role: ToplevelHandler | PopupHandler | None = None
        self.serials: list[int] = []
        self.acked = False
        self.configured_once = False
        self.pending_geometry: Rect | None = None
        self.window: Window | None = None
        surface.role = "xdg_surface"
        surface.role_object = self

    # requests
    def get_toplevel(self, resource: XdgSurfaceResource, new_id: int) -> None:
        if self.role is not None:
            raise ProtocolError(resource, ALREADY_CONSTRUCTED, "the xdg_surface already has a role")
        self.window = Window(self.surface)
        self.role = ToplevelHandler(self, resource, new_id)
        self.surface.role = "xdg_toplevel"
        self.server.wm.created(self.window)

    def get_popup(self, resource: XdgSurfaceResource, new_id: int, parent: XdgSurfaceResource | None,
                  positioner: XdgPositionerResource) -> None:
        if self.role is not None:
            raise ProtocolError(resource, ALREADY_CONSTRUCTED, "the xdg_surface already has a role")
        parent_handler = handler_of(parent, XdgSurfaceHandler)
        positioner_handler = handler_of(positioner, PositionerHandler)
        placement = positioner_handler.placement if positioner_handler is not None else None
        if placement is None or placement.width <= 0:
            raise ProtocolError(resource, INVALID_POSITIONER, "incomplete positioner")
        if parent_handler is None or parent_handler.window is None:
            raise ProtocolError(resource, INVALID_POPUP_PARENT, "popups need a parent xdg_surface")
        self.window = Window(self.surface, popup=True, parent=parent_handler.window)
        self.role = PopupHandler(self, resource, new_id, Placement(**vars(placement)))
        self.surface.role = "xdg_popup"

    def set_window_geometry(self, resource: XdgSurfaceResource, x: int, y: int, width: int,
                            height: int) -> None:
        if width <= 0 or height <= 0:
            raise ProtocolError(resource, INVALID_SIZE, f"window geometry {width}x{height} is invalid")
        self.pending_geometry = Rect(x, y, width, height)

    def ack_configure(self, resource: XdgSurfaceResource, serial: int) -> None:
        if serial not in self.serials:
            raise ProtocolError(resource, INVALID_SERIAL, f"ack_configure of unknown serial {serial}")
        self.serials = [s for s in self.serials if s > serial]
        self.acked = True

    # from the wl_surface
    def check_buffer(self, surface_resource: WlSurfaceResource) -> None:
        if self.role is None:
            raise ProtocolError(self.resource, NOT_CONSTRUCTED, "buffer on an xdg_surface without a role")
        if not self.acked:
            raise ProtocolError(self.resource, UNCONFIGURED_BUFFER, "buffer attached before ack_configure")

    def commit(self, surface: Surface, _offset: tuple[int, int]) -> None:
        window = self.window
        if window is None or self.role is None:
            return
        if self.pending_geometry is not None:
            window.geometry, self.pending_geometry = self.pending_geometry, None
            if window in self.server.scene.windows:
                self.server.scene.damage()
        if not self.configured_once:
            self.configured_once = True
            self.role.initial_configure()
            return
        wm = self.server.wm
        if surface.mapped and window not in self.server.scene.windows:
            wm.map(window)
        elif not surface.mapped and window in self.server.scene.windows:
            wm.unmap(window)
            self.configured_once = False
            self.acked = False

    def send_configure(self) -> None:
        serial = self.server.next_serial()
        self.serials.append(serial)
        self.resource.configure(serial)

    def surface_destroyed(self) -> None:
        self.unmap()

    def unmap(self) -> None:
        if self.window is not None and self.window in self.server.scene.windows:
            self.server.wm.unmap(self.window)

    def _destroyed(self, resource: XdgSurfaceResource) -> None:
        self.unmap()
        if self.window is not None:
            self.server.wm.destroyed(self.window)
        if self.surface.role_object is self:
            self.surface.role_object = None


def _states(*states: int) -> bytes:
    """A wl_array of uint32. pywayland's generated signatures call array arguments `list`, but its
    marshaller (and compat's) sends bytes: the calls passing this carry a type: ignore[arg-type]."""
    return struct.pack(f"={len(states)}I", *states)


class ToplevelHandler:
    def __init__(self, xdg: XdgSurfaceHandler, parent: XdgSurfaceResource, new_id: int) -> None:
        self.xdg = xdg
        self.server = xdg.server
        self.resource = create(XdgToplevelResource, parent, new_id, self, self._destroyed)
        assert xdg.window is not None
        self.window = xdg.window
        self.window.shell = self
        self.sent: tuple[int, int, tuple[int, ...]] | None = None

    def initial_configure(self) -> None:
        self.resource.wm_capabilities(_states(CAP_MAXIMIZE, CAP_FULLSCREEN))  # type: ignore[arg-type]
        self.resource.configure_bounds(self.server.scene.width, self.server.scene.height)
        self.configure(*self.server.wm.initial_size(self.window), force=True)

    def configure(self, width: int, height: int, force: bool = False) -> None:
        """Send a configure with the window's current states unless nothing changed."""
        window = self.window
        states = []
        if window.fullscreen:
            states.append(FULLSCREEN)
        if window.maximized:
            states.append(MAXIMIZED)
        if self.server.wm.focused is window:
            states.append(ACTIVATED)
        key = (width, height, tuple(states))
        if key == self.sent and not force:
            return
        self.sent = key
        self.resource.configure(width, height, _states(*states))  # type: ignore[arg-type]
        self.xdg.send_configure()

    def reconfigure(self) -> None:
        if self.sent is not None:
            self.configure(self.sent[0], self.sent[1])

    def close(self) -> None:
        self.resource.close()

    # requests
    def set_title(self, resource: XdgToplevelResource, title: str) -> None:
        self.window.title = title[:512]
        self.server.wm.changed(self.window)

    def set_app_id(self, resource: XdgToplevelResource, app_id: str) -> None:
        self.window.app_id = app_id[:256]
        self.server.wm.changed(self.window)

    def set_min_size(self, resource: XdgToplevelResource, width: int, height: int) -> None:
        if width < 0 or height < 0:
            raise ProtocolError(resource, TOPLEVEL_INVALID_SIZE, "negative minimum size")
        self.window.min_size = (width, height)

    def set_max_size(self, resource: XdgToplevelResource, width: int, height: int) -> None:
        if width < 0 or height < 0:
            raise ProtocolError(resource, TOPLEVEL_INVALID_SIZE, "negative maximum size")
        self.window.max_size = (width, height)

    def set_fullscreen(self, resource: XdgToplevelResource, output: WlOutputResource | None) -> None:
        self.server.wm.set_fullscreen(self.window, True)

    def unset_fullscreen(self, resource: XdgToplevelResource) -> None:
        self.server.wm.set_fullscreen(self.window, False)

    def set_maximized(self, resource: XdgToplevelResource) -> None:
        self.server.wm.set_maximized(self.window, True)

    def unset_maximized(self, resource: XdgToplevelResource) -> None:
        self.server.wm.set_maximized(self.window, False)

    def move(self, resource: XdgToplevelResource, seat: WlSeatResource, serial: int) -> None:
        self.server.wm.start_move(self.window)

    def _destroyed(self, resource: XdgToplevelResource) -> None:
        self.xdg.unmap()


class PopupHandler:
    def __init__(self, xdg: XdgSurfaceHandler, parent: XdgSurfaceResource, new_id: int,
                 placement: Placement) -> None:
        self.xdg = xdg
        self.server = xdg.server
        self.placement = placement
        self.resource = create(XdgPopupResource, parent, new_id, self, self._destroyed)
        assert xdg.window is not None
        self.window = xdg.window
        self.window.shell = self

    def initial_configure(self) -> None:
        self._configure()

    def _configure(self) -> None:
        x, y = self.placement.position()
        parent = self.window.parent
        if parent is not None:
            self.window.x, self.window.y = parent.x + x, parent.y + y
            self.window.layer = parent.layer
        self.resource.configure(x, y, self.placement.width, self.placement.height)
        self.xdg.send_configure()

    def reconfigure(self) -> None:
        pass

    def close(self) -> None:
        self.resource.popup_done()

    def grab(self, resource: XdgPopupResource, seat: WlSeatResource, serial: int) -> None:
        pass

    def reposition(self, resource: XdgPopupResource, positioner: XdgPositionerResource, token: int) -> None:
        positioner_handler = handler_of(positioner, PositionerHandler)
        if positioner_handler is not None:
            placement = positioner_handler.placement
            self.placement = Placement(**vars(placement))
            self.resource.repositioned(token)
            self._configure()

    def _destroyed(self, resource: XdgPopupResource) -> None:
        self.xdg.unmap()
