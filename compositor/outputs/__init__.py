"""Display backends. Each renders nothing itself: it takes the scene's shadow image (logical pixels)
and the damaged rectangles, and gets them onto its scanout memory, rotated as configured.

All backends share `Transform` for rotation, so pointer mapping and scanout stay consistent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cairocffi as cairo

from llmos.compositor.scene import Rect


class OutputError(Exception):
    """A backend cannot be brought up (no device, no connected screen, no permission)."""


@dataclass(frozen=True)
class Transform:
    """Logical (what clients see) <-> physical (the scanout) coordinates for 0/90/180/270 rotation."""

    rotation: int
    physical_width: int
    physical_height: int

    @property
    def logical_size(self) -> tuple[int, int]:
        if self.rotation in (90, 270):
            return self.physical_height, self.physical_width
        return self.physical_width, self.physical_height

    def matrix(self) -> cairo.Matrix:
        """Maps logical to physical coordinates."""
        pw, ph = self.physical_width, self.physical_height
        matrix = cairo.Matrix()
        if self.rotation == 90:
            matrix.translate(pw, 0)
            matrix.rotate(math.pi / 2)
        elif self.rotation == 180:
            matrix.translate(pw, ph)
            matrix.rotate(math.pi)
        elif self.rotation == 270:
            matrix.translate(0, ph)
            matrix.rotate(-math.pi / 2)
        return matrix

    def to_logical(self, x: float, y: float) -> tuple[float, float]:
        """A physical point (e.g. a touch) in logical coordinates."""
        pw, ph = self.physical_width, self.physical_height
        if self.rotation == 90:
            return y, pw - x
        if self.rotation == 180:
            return pw - x, ph - y
        if self.rotation == 270:
            return ph - y, x
        return x, y

    def delta_to_logical(self, dx: float, dy: float) -> tuple[float, float]:
        """A relative motion (mouse) in logical coordinates: right on the glass stays right."""
        if self.rotation == 90:
            return dy, -dx
        if self.rotation == 180:
            return -dx, -dy
        if self.rotation == 270:
            return -dy, dx
        return dx, dy

    def rect_to_physical(self, rect: Rect) -> Rect:
        matrix = self.matrix()
        xs, ys = [], []
        for px, py in ((rect.x, rect.y), (rect.x + rect.w, rect.y + rect.h)):
            x, y = matrix.transform_point(px, py)
            xs.append(round(x))
            ys.append(round(y))
        return Rect(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def blit(shadow: cairo.ImageSurface, target: cairo.ImageSurface, rects: list[Rect],
         transform: Transform) -> None:
    """Copy damaged logical rectangles of the shadow image into a physical scanout image."""
    ctx = cairo.Context(target)
    ctx.set_operator(cairo.OPERATOR_SOURCE)
    ctx.set_matrix(transform.matrix())
    for rect in rects:
        ctx.rectangle(rect.x, rect.y, rect.w, rect.h)
    ctx.clip()
    ctx.set_source_surface(shadow, 0, 0)
    ctx.get_source().set_filter(cairo.FILTER_NEAREST)
    ctx.paint()
    target.flush()


class Output(Protocol):
    """What the compositor needs from a backend."""

    name: str
    kind: str
    refresh_hz: float
    transform: Transform
    flip_fd: int | None  # readable when a presented frame reached the screen (DRM); None: timer paced

    def present(self, shadow: cairo.ImageSurface, rects: list[Rect]) -> bool:
        """Show the damaged rectangles; True when a flip completion will be reported on flip_fd."""

    def handle_flip(self) -> bool:
        """Read flip events from flip_fd; True when the pending frame is now on screen."""

    def screen(self) -> cairo.ImageSurface:
        """The pixels currently on screen (physical orientation), for screenshots."""

    def close(self) -> None: ...


def open_output(backend: str, rotation: int, size: tuple[int, int], device: str = "",
                log: Callable[[str], object] = print) -> Output:
    """Pick a backend: 'auto' tries DRM, then fbdev, then headless."""
    from llmos.compositor.outputs.drm import DrmOutput
    from llmos.compositor.outputs.fbdev import FbdevOutput
    from llmos.compositor.outputs.headless import HeadlessOutput

    if backend == "headless":
        return HeadlessOutput(*size, rotation=rotation)
    if backend == "drm":
        return DrmOutput(device or "/dev/dri/card0", rotation)
    if backend == "fbdev":
        return FbdevOutput(device or "/dev/fb0", rotation)
    if backend != "auto":
        raise OutputError(f"[display] backend = {backend!r}: expected auto, drm, fbdev or headless")
    problems = []
    cards = sorted(Path("/dev/dri").glob("card*")) if Path("/dev/dri").is_dir() else []
    for card in cards:
        try:
            return DrmOutput(str(card), rotation)
        except OutputError as error:
            problems.append(f"{card}: {error}")
    if os.path.exists("/dev/fb0"):
        try:
            return FbdevOutput("/dev/fb0", rotation)
        except OutputError as error:
            problems.append(f"/dev/fb0: {error}")
    for problem in problems:
        log(f"compositor: {problem}")
    return HeadlessOutput(*size, rotation=rotation)
