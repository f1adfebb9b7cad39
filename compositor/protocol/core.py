"""wl_compositor, wl_surface, wl_region, wl_callback, wl_subcompositor and wl_subsurface.

A surface's requests fill a pending state; `commit` copies the attached wl_shm buffer (only the damaged
rows), applies scale and regions, queues frame callbacks, lets the surface's role react, and turns
surface damage into output damage.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeVar

from pywayland import ffi
from pywayland.protocol.wayland import (
    WlCallbackResource,
    WlCompositor,
    WlCompositorResource,
    WlRegionResource,
    WlSubcompositor,
    WlSubcompositorResource,
    WlSubsurfaceResource,
    WlSurfaceResource,
)

from llmos.compositor import shm
from llmos.compositor.compat import DestroyWatch, ProtocolError, adopt, create, make_global, owner
from llmos.compositor.scene import Rect, Region, Surface

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor



class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET  # a pending field this commit does not change

# wl_surface errors
INVALID_SCALE, INVALID_TRANSFORM, INVALID_SIZE, INVALID_OFFSET = 0, 1, 2, 3
# wl_subcompositor errors
BAD_SURFACE, BAD_PARENT = 0, 1


Handler = TypeVar("Handler")


def handler_of(resource: object, kind: type[Handler]) -> Handler | None:
    """Our handler object behind a resource argument: None for a null or foreign object (libwayland
    already checked the argument's interface, so a handler of another kind does not occur)."""
    dispatcher = getattr(resource, "dispatcher", None)
    handler = getattr(dispatcher, "impl", None)
    return handler if isinstance(handler, kind) else None


@dataclass
class Pending:
    buffer: ffi.WlResource | _Unset | None = _UNSET
    offset: tuple[int, int] = (0, 0)
    damage: list[Rect] = field(default_factory=list)
    buffer_damage: list[Rect] = field(default_factory=list)
    frames: list[WlCallbackResource] = field(default_factory=list)
    scale: int | None = None
    input_region: Region | _Unset | None = _UNSET


class SurfaceHandler:
    """One wl_surface."""

    def __init__(self, server: Compositor, parent: WlCompositorResource, new_id: int) -> None:
        self.server = server
        self.resource = create(WlSurfaceResource, parent, new_id, self, self._destroyed)
        self.surface = Surface(self.resource, owner(self.resource))
        self.surface.role_object = None
        self.pending = Pending()
        self._watch: DestroyWatch | None = None

    # requests
    def attach(self, resource: WlSurfaceResource, buffer: ffi.WlResource | None, x: int, y: int) -> None:
        if resource.version >= 5 and (x, y) != (0, 0):
            raise ProtocolError(resource, INVALID_OFFSET, "attach with a non-zero offset (use offset)")
        self._unwatch()
        self.pending.buffer = buffer
        self.pending.offset = (x, y)
        if buffer is not None:
            self._watch = DestroyWatch(buffer, self._pending_buffer_gone)

    def _pending_buffer_gone(self) -> None:
        self._watch = None
        self.pending.buffer = None

    def _unwatch(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def damage(self, resource: WlSurfaceResource, x: int, y: int, width: int, height: int) -> None:
        self.pending.damage.append(Rect(x, y, min(width, 1 << 16), min(height, 1 << 16)))

    def damage_buffer(self, resource: WlSurfaceResource, x: int, y: int, width: int, height: int) -> None:
        self.pending.buffer_damage.append(Rect(x, y, min(width, 1 << 16), min(height, 1 << 16)))

    def frame(self, resource: WlSurfaceResource, new_id: int) -> None:
        self.pending.frames.append(create(WlCallbackResource, resource, new_id, version=1))

    def set_opaque_region(self, resource: WlSurfaceResource, region: WlRegionResource | None) -> None:
        pass  # only an optimisation hint; we always blend

    def set_input_region(self, resource: WlSurfaceResource, region: WlRegionResource | None) -> None:
        handler = handler_of(region, RegionHandler)
        self.pending.input_region = None if handler is None else Region(list(handler.region.ops))

    def set_buffer_transform(self, resource: WlSurfaceResource, transform: int) -> None:
        if not 0 <= transform <= 7:
            raise ProtocolError(resource, INVALID_TRANSFORM, f"buffer transform {transform} is invalid")

    def set_buffer_scale(self, resource: WlSurfaceResource, scale: int) -> None:
        if scale < 1:
            raise ProtocolError(resource, INVALID_SCALE, f"buffer scale {scale} is not positive")
        self.pending.scale = scale

    def offset(self, resource: WlSurfaceResource, x: int, y: int) -> None:
        self.pending.offset = (x, y)

    def commit(self, resource: WlSurfaceResource) -> None:
        surface = self.surface
        pending, self.pending = self.pending, Pending()
        scene = self.server.scene
        before = scene.position_of(surface)
        old_size = surface.size
        old_scale = surface.scale
        if pending.scale is not None:
            surface.scale = pending.scale
        role = surface.role_object
        if pending.buffer is not _UNSET:
            self._unwatch()
            if pending.buffer is None:
                surface.image = None
            else:
                if role is not None and hasattr(role, "check_buffer"):
                    role.check_buffer(resource)
                rows = None
                if surface.image is not None and surface.scale == old_scale:
                    rows = self._damaged_rows(pending)
                try:
                    surface.image = shm.copy_buffer(pending.buffer, surface.image, rows)
                except shm.BufferError as error:
                    raise ProtocolError(resource, INVALID_SIZE, str(error)) from None
                shm.release(pending.buffer)
                width, height = surface.image.width, surface.image.height
                if width % surface.scale or height % surface.scale:
                    raise ProtocolError(resource, INVALID_SIZE,
                                        f"buffer {width}x{height} is not a multiple of scale {surface.scale}")
        if pending.input_region is not _UNSET:
            surface.input_region = pending.input_region
        if pending.frames:
            self.server.queue_frame_callbacks(pending.frames)
        if role is not None and hasattr(role, "commit"):
            role.commit(surface, pending.offset)
        self._apply_children()
        after = scene.position_of(surface)
        if after is None:
            if before is not None:
                scene.damage(Rect(before[0], before[1], *old_size))
            return
        no_damage = not pending.damage and not pending.buffer_damage
        attached = pending.buffer is not _UNSET and pending.buffer is not None
        if before != after or surface.size != old_size or surface.scale != old_scale or (
                attached and no_damage):
            if before is not None:
                scene.damage(Rect(before[0], before[1], *old_size))
            scene.damage(Rect(after[0], after[1], *surface.size))
            return
        for rect in pending.damage:
            scene.damage(rect.translate(*after))
        for rect in pending.buffer_damage:
            scene.damage(Rect.scaled(rect.x, rect.y, rect.w, rect.h, 1 / surface.scale).translate(*after))

    def _damaged_rows(self, pending: Pending) -> tuple[int, int] | None:
        """Buffer rows to copy: the union of all damage, or None (everything) when there is none."""
        scale = self.surface.scale
        spans = [(r.y, r.y + r.h) for r in pending.buffer_damage]
        spans += [(r.y * scale, (r.y + r.h) * scale) for r in pending.damage]
        if not spans:
            return None  # a buffer without damage: be lenient, take all of it
        return min(s[0] for s in spans), max(s[1] for s in spans)

    def _apply_children(self) -> None:
        """Subsurface positions and stacking are double-buffered on the parent's commit."""
        for child in self.surface.stack:
            sub = child.role_object if child is not self.surface else None
            if isinstance(sub, SubsurfaceHandler) and sub.pending_position is not None:
                scene = self.server.scene
                before = scene.position_of(child)
                if before is not None:
                    scene.damage(child.extent(*before))
                child.offset, sub.pending_position = sub.pending_position, None
                after = scene.position_of(child)
                if after is not None:
                    scene.damage(child.extent(*after))

    def _destroyed(self, resource: WlSurfaceResource) -> None:
        self._unwatch()
        surface = self.surface
        surface.alive = False
        role = surface.role_object
        if role is not None and hasattr(role, "surface_destroyed"):
            role.surface_destroyed()
        for child in list(surface.stack):
            if child is not surface:
                child.parent = None
        surface.stack = [surface]
        for callback in self.pending.frames:
            callback.destroy()
        self.server.surface_destroyed(surface)


class RegionHandler:
    def __init__(self, parent: WlCompositorResource, new_id: int) -> None:
        self.region = Region()
        create(WlRegionResource, parent, new_id, self)

    def add(self, resource: WlRegionResource, x: int, y: int, width: int, height: int) -> None:
        self.region.ops.append((True, Rect(x, y, width, height)))

    def subtract(self, resource: WlRegionResource, x: int, y: int, width: int, height: int) -> None:
        self.region.ops.append((False, Rect(x, y, width, height)))


class CompositorGlobal:
    """wl_compositor: makes surfaces and regions."""

    VERSION = 5

    def __init__(self, server: Compositor) -> None:
        self.server = server
        self.glob = make_global(server.display, WlCompositor, self.VERSION, lambda r: adopt(r, self))

    def create_surface(self, resource: WlCompositorResource, new_id: int) -> None:
        SurfaceHandler(self.server, resource, new_id)

    def create_region(self, resource: WlCompositorResource, new_id: int) -> None:
        RegionHandler(resource, new_id)


class SubsurfaceHandler:
    """wl_subsurface: a child surface drawn at an offset from its parent, in its parent's stack."""

    def __init__(self, server: Compositor, parent_resource: WlSubcompositorResource, new_id: int,
                 surface: Surface, parent: Surface) -> None:
        self.server = server
        self.surface = surface
        self.pending_position: tuple[int, int] | None = None
        self.resource = create(WlSubsurfaceResource, parent_resource, new_id, self, self._destroyed)
        surface.role = "subsurface"
        surface.role_object = self
        surface.parent = parent
        surface.offset = (0, 0)
        parent.stack.append(surface)

    def set_position(self, resource: WlSubsurfaceResource, x: int, y: int) -> None:
        self.pending_position = (x, y)

    def _restack(self, resource: WlSubsurfaceResource, sibling: WlSurfaceResource, above: bool) -> None:
        handler = handler_of(sibling, SurfaceHandler)
        parent = self.surface.parent
        other = handler.surface if handler is not None else None
        if parent is None or other is None or other is self.surface or (other is not parent and
                                                                         other.parent is not parent):
            raise ProtocolError(resource, 0, "sibling is neither the parent nor a sibling")
        parent.stack.remove(self.surface)
        index = parent.stack.index(other)
        parent.stack.insert(index + 1 if above else index, self.surface)
        self._damage()

    def place_above(self, resource: WlSubsurfaceResource, sibling: WlSurfaceResource) -> None:
        self._restack(resource, sibling, True)

    def place_below(self, resource: WlSubsurfaceResource, sibling: WlSurfaceResource) -> None:
        self._restack(resource, sibling, False)

    def set_sync(self, resource: WlSubsurfaceResource) -> None:
        pass  # child state is applied on its own commit either way (desynchronised behaviour)

    def set_desync(self, resource: WlSubsurfaceResource) -> None:
        pass

    def _damage(self) -> None:
        position = self.server.scene.position_of(self.surface)
        if position is not None:
            self.server.scene.damage(self.surface.extent(*position))

    def surface_destroyed(self) -> None:
        self._detach()

    def _detach(self) -> None:
        surface, parent = self.surface, self.surface.parent
        if parent is not None:
            self._damage()
            if surface in parent.stack:
                parent.stack.remove(surface)
        surface.parent = None
        surface.role_object = None

    def _destroyed(self, resource: WlSubsurfaceResource) -> None:
        if self.surface.role_object is self:
            self._detach()


class SubcompositorGlobal:
    def __init__(self, server: Compositor) -> None:
        self.server = server
        self.glob = make_global(server.display, WlSubcompositor, 1, lambda r: adopt(r, self))

    def get_subsurface(self, resource: WlSubcompositorResource, new_id: int, surface: WlSurfaceResource,
                       parent: WlSurfaceResource) -> None:
        child, parent_handler = handler_of(surface, SurfaceHandler), handler_of(parent, SurfaceHandler)
        if child is None or parent_handler is None:
            raise ProtocolError(resource, BAD_SURFACE, "unknown surface")
        if child.surface.role_object is not None or child.surface.role not in (None, "subsurface"):
            raise ProtocolError(resource, BAD_SURFACE, "the surface already has a role")
        node: Surface | None = parent_handler.surface
        while node is not None:
            if node is child.surface:
                raise ProtocolError(resource, BAD_PARENT, "a surface cannot be its own ancestor")
            node = node.parent
        SubsurfaceHandler(self.server, resource, new_id, child.surface, parent_handler.surface)
