"""wl_seat with wl_keyboard (xkb keymap through a sealed memfd) and wl_pointer; the seat's focus state.

Input arrives already routed by the window manager: `key` goes to the keyboard focus, pointer events to
the surface under the cursor. The keymap comes from config [input] layout/variant/options, compiled
with xkbcommon; the same xkb state serialises the modifiers we send.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections import defaultdict
from typing import TYPE_CHECKING, Any, TypeVar

from pywayland.protocol.wayland import (
    WlKeyboardResource,
    WlPointerResource,
    WlSeat,
    WlSeatResource,
    WlSurfaceResource,
    WlTouchResource,
)
from xkbcommon import xkb

from llmos.compositor.compat import ProtocolError, adopt, create, make_global, owner
from llmos.compositor.protocol.core import SurfaceHandler, handler_of
from llmos.compositor.scene import Surface

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor

CAP_POINTER, CAP_KEYBOARD = 1, 2
KEYMAP_XKB_V1 = 1
KEY_RELEASED, KEY_PRESSED = 0, 1
AXIS_VERTICAL, AXIS_HORIZONTAL = 0, 1


class Keymap:
    """A compiled xkb keymap in a sealed memfd that every client maps read-only, plus the xkb state."""

    def __init__(self, layout: str, variant: str = "", options: str = "") -> None:
        context = xkb.Context()
        self.keymap = context.keymap_new_from_names(layout=layout or "us", variant=variant or None,
                                                    options=options or None)
        text = self.keymap.get_as_bytes() + b"\0"
        self.size = len(text)
        self.fd = os.memfd_create("llmos-keymap", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.write(self.fd, text)
        fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
        self.state = self.keymap.state_new()

    def update(self, evdev_code: int, pressed: bool) -> bool:
        """Feed a key to the xkb state; True when the modifier state changed."""
        before = self.modifiers()
        direction = xkb.KeyDirection.XKB_KEY_DOWN if pressed else xkb.KeyDirection.XKB_KEY_UP
        self.state.update_key(evdev_code + 8, direction)
        return self.modifiers() != before

    def modifiers(self) -> tuple[int, int, int, int]:
        component = xkb.StateComponent
        return (self.state.serialize_mods(component.XKB_STATE_MODS_DEPRESSED),
                self.state.serialize_mods(component.XKB_STATE_MODS_LATCHED),
                self.state.serialize_mods(component.XKB_STATE_MODS_LOCKED),
                self.state.serialize_layout(component.XKB_STATE_LAYOUT_EFFECTIVE))

    def close(self) -> None:
        os.close(self.fd)


class Seat:
    """The one seat: its global, the per-client device resources and the focus."""

    VERSION = 7

    def __init__(self, server: Compositor, keymap: Keymap) -> None:
        self.server = server
        self.keymap = keymap
        self.keyboards: dict[int, list[WlKeyboardResource]] = defaultdict(list)
        self.pointers: dict[int, list[WlPointerResource]] = defaultdict(list)
        self.keyboard_focus: Surface | None = None
        self.pointer_focus: Surface | None = None
        self.pressed: set[int] = set()  # evdev codes currently down (as seen by clients)
        self.pointer_xy = (server.scene.width / 2, server.scene.height / 2)
        self.cursor_surface: Surface | None = None
        self.cursor_hotspot = (0, 0)
        self.cursor_hidden_by_client = False
        self.last_serial: dict[int, int] = {}  # client -> last input serial sent (for validation)
        self.repeat = (25, 600)
        self.glob = make_global(server.display, WlSeat, self.VERSION, self._bind)

    def _bind(self, resource: Any) -> None:
        adopt(resource, self)
        resource.capabilities(CAP_POINTER | CAP_KEYBOARD)
        resource.name("seat0")

    def _serial(self, client: int) -> int:
        serial = self.server.next_serial()
        self.last_serial[client] = serial
        return serial

    # wl_seat requests
    def get_keyboard(self, resource: WlSeatResource, new_id: int) -> None:
        keyboard = create(WlKeyboardResource, resource, new_id, None, self._keyboard_gone)
        client = owner(keyboard)
        self.keyboards[client].append(keyboard)
        keyboard.keymap(KEYMAP_XKB_V1, self.keymap.fd, self.keymap.size)
        keyboard.repeat_info(*self.repeat)
        focus = self.keyboard_focus
        if focus is not None and focus.client == client:
            self._enter_keyboard(keyboard, focus, self._serial(client))

    def get_pointer(self, resource: WlSeatResource, new_id: int) -> None:
        pointer = create(WlPointerResource, resource, new_id, _PointerRequests(self), self._pointer_gone)
        self.pointers[owner(pointer)].append(pointer)

    def get_touch(self, resource: WlSeatResource, new_id: int) -> None:
        create(WlTouchResource, resource, new_id)  # touch is delivered as pointer events

    def _keyboard_gone(self, resource: WlKeyboardResource) -> None:
        _discard(self.keyboards, resource)

    def _pointer_gone(self, resource: WlPointerResource) -> None:
        _discard(self.pointers, resource)

    # keyboard
    def _enter_keyboard(self, keyboard: WlKeyboardResource, surface: Surface, serial: int) -> None:
        keys = struct.pack(f"={len(self.pressed)}I", *sorted(self.pressed))
        # pywayland's signature says list for this wl_array; its marshaller and compat's send bytes
        keyboard.enter(serial, surface.resource, keys)  # type: ignore[arg-type]
        keyboard.modifiers(serial, *self.keymap.modifiers())

    def set_keyboard_focus(self, surface: Surface | None) -> None:
        old = self.keyboard_focus
        if old is surface:
            return
        self.keyboard_focus = surface
        if old is not None and old.alive:
            serial = self._serial(old.client)
            for keyboard in self.keyboards.get(old.client, []):
                keyboard.leave(serial, old.resource)
        if surface is not None:
            serial = self._serial(surface.client)
            for keyboard in self.keyboards.get(surface.client, []):
                self._enter_keyboard(keyboard, surface, serial)
            self.server.data.focus_changed(surface.client)

    def key(self, code: int, pressed: bool, time_ms: int) -> None:
        """A key for the focused client (shortcuts were already taken out by the window manager)."""
        if pressed:
            self.pressed.add(code)
        else:
            self.pressed.discard(code)
        mods_changed = self.keymap.update(code, pressed)
        focus = self.keyboard_focus
        if focus is None:
            return
        serial = self._serial(focus.client)
        for keyboard in self.keyboards.get(focus.client, []):
            keyboard.key(serial, time_ms, code, KEY_PRESSED if pressed else KEY_RELEASED)
            if mods_changed:
                keyboard.modifiers(serial, *self.keymap.modifiers())

    def update_modifiers_only(self, code: int, pressed: bool) -> None:
        """Track a key the clients never see (a consumed shortcut) so xkb stays consistent."""
        self.keymap.update(code, pressed)

    # pointer
    def pointer_motion(self, x: float, y: float, time_ms: int) -> None:
        self.pointer_xy = (x, y)
        hit = self.server.scene.surface_at(x, y)
        surface, sx, sy = hit if hit else (None, 0.0, 0.0)
        self._set_pointer_focus(surface, sx, sy)
        if surface is not None:
            for pointer in self.pointers.get(surface.client, []):
                pointer.motion(time_ms, sx, sy)
                pointer.frame()

    def clear_pointer_focus(self) -> None:
        """The pointer is over the OS shell, which is no client: the client under it gets a leave."""
        self._set_pointer_focus(None, 0.0, 0.0)

    def _set_pointer_focus(self, surface: Surface | None, sx: float, sy: float) -> None:
        old = self.pointer_focus
        if old is surface:
            return
        self.pointer_focus = surface
        self.cursor_surface = None
        self.cursor_hidden_by_client = False
        if old is not None and old.alive:
            serial = self._serial(old.client)
            for pointer in self.pointers.get(old.client, []):
                pointer.leave(serial, old.resource)
                pointer.frame()
        if surface is not None:
            serial = self._serial(surface.client)
            for pointer in self.pointers.get(surface.client, []):
                pointer.enter(serial, surface.resource, sx, sy)
                pointer.frame()

    def pointer_button(self, button: int, pressed: bool, time_ms: int) -> None:
        surface = self.pointer_focus
        if surface is None:
            return
        serial = self._serial(surface.client)
        for pointer in self.pointers.get(surface.client, []):
            pointer.button(serial, time_ms, button, 1 if pressed else 0)
            pointer.frame()

    def pointer_axis(self, axis: int, value: float, time_ms: int) -> None:
        surface = self.pointer_focus
        if surface is None:
            return
        for pointer in self.pointers.get(surface.client, []):
            pointer.axis(time_ms, axis, value)
            pointer.frame()

    def surface_destroyed(self, surface: Surface) -> None:
        if self.keyboard_focus is surface:
            self.keyboard_focus = None
        if self.pointer_focus is surface:
            self.pointer_focus = None
        if self.cursor_surface is surface:
            self.cursor_surface = None


class _PointerRequests:
    """wl_pointer requests: set_cursor gives a surface the cursor role."""

    def __init__(self, seat: Seat) -> None:
        self.seat = seat

    def set_cursor(self, resource: WlPointerResource, serial: int, surface: WlSurfaceResource | None,
                   hotspot_x: int, hotspot_y: int) -> None:
        seat = self.seat
        focus = seat.pointer_focus
        if focus is None or focus.client != owner(resource):
            return  # only the client under the pointer may set it
        handler = handler_of(surface, SurfaceHandler)
        if handler is None:
            seat.cursor_surface = None
            seat.cursor_hidden_by_client = True
        else:
            if handler.surface.role not in (None, "cursor"):
                raise ProtocolError(resource, 0, "the cursor surface already has another role")
            handler.surface.role = "cursor"
            if handler.surface.role_object is None:
                handler.surface.role_object = _CursorRole(seat)
            seat.cursor_surface = handler.surface
            seat.cursor_hidden_by_client = False
        seat.cursor_hotspot = (hotspot_x, hotspot_y)
        seat.server.cursor_changed()


class _CursorRole:
    """A cursor surface's commits move or change the software cursor."""

    def __init__(self, seat: Seat) -> None:
        self.seat = seat

    def commit(self, surface: Surface, offset: tuple[int, int]) -> None:
        if offset != (0, 0):
            x, y = self.seat.cursor_hotspot
            self.seat.cursor_hotspot = (x - offset[0], y - offset[1])
        if self.seat.cursor_surface is surface:
            self.seat.server.cursor_changed()


_Device = TypeVar("_Device", WlKeyboardResource, WlPointerResource)


def _discard(table: dict[int, list[_Device]], resource: _Device) -> None:
    client = owner(resource)
    items = table.get(client, [])
    if resource in items:
        items.remove(resource)
    if not items:
        table.pop(client, None)
