"""Headless output: the screen is an image in memory; PNGs are written only when asked for."""

from __future__ import annotations

import cairocffi as cairo

from llmos.compositor.outputs import Transform, blit
from llmos.compositor.scene import Rect


class HeadlessOutput:
    kind = "headless"
    flip_fd: int | None = None  # no flip events: frames are paced by a timer

    def __init__(self, width: int, height: int, rotation: int = 0, refresh_hz: float = 60.0) -> None:
        self.name = "HEADLESS-1"
        self.refresh_hz = refresh_hz
        self.transform = Transform(rotation, width, height)
        # Unrotated, the shadow image is the screen itself: nothing to copy.
        self._screen = None if rotation == 0 else cairo.ImageSurface(cairo.FORMAT_RGB24, width, height)
        self._shadow: cairo.ImageSurface | None = None

    def present(self, shadow: cairo.ImageSurface, rects: list[Rect]) -> bool:
        self._shadow = shadow
        if self._screen is not None:
            blit(shadow, self._screen, rects, self.transform)
        return False

    def handle_flip(self) -> bool:
        return True

    def screen(self) -> cairo.ImageSurface:
        if self._screen is not None:
            return self._screen
        assert self._shadow is not None, "nothing presented yet"
        return self._shadow

    def close(self) -> None:
        pass
