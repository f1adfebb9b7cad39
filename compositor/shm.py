"""Copy a client's wl_shm buffer into compositor-owned memory, then release it at once.

libwayland's own wl_shm global validates pools and buffers (size beyond pool, bad format or stride
are its protocol errors) and guards reads against a client shrinking the file (SIGBUS) between
begin_access/end_access. We only read: copying means a client may reuse its buffer immediately and
we never hold a pointer into client memory past the commit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cairocffi as cairo
from pywayland import ffi

from llmos.compositor.compat import wl, wl_ffi, wl_resource

FORMAT_ARGB8888 = 0
FORMAT_XRGB8888 = 1
_CAIRO_FORMAT = {FORMAT_ARGB8888: cairo.FORMAT_ARGB32, FORMAT_XRGB8888: cairo.FORMAT_RGB24}


class BufferError(Exception):
    """The buffer cannot be used (not wl_shm, unsupported format or stride); `code` is a wl_shm error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Image:
    """Pixels we own, reused across commits of the same size so only damaged rows are copied."""

    surface: cairo.ImageSurface
    data: bytearray
    width: int
    height: int
    stride: int
    format: int


MAX_SIDE = 8192
MAX_BYTES = 128 << 20


def copy_buffer(buffer: ffi.WlResource, previous: Image | None, rows: tuple[int, int] | None) -> Image:
    """Copy `buffer` (a wl_buffer resource pointer); only `rows` (y0, y1) when `previous` matches."""
    shm = wl.wl_shm_buffer_get(wl_resource(buffer))
    if shm == wl_ffi.NULL:
        raise BufferError(0, "only wl_shm buffers are supported")
    width = wl.wl_shm_buffer_get_width(shm)
    height = wl.wl_shm_buffer_get_height(shm)
    stride = wl.wl_shm_buffer_get_stride(shm)
    pixel_format = wl.wl_shm_buffer_get_format(shm)
    if pixel_format not in _CAIRO_FORMAT:
        raise BufferError(0, f"wl_shm format {pixel_format:#x} is not supported")
    if stride < width * 4 or stride % 4:
        raise BufferError(2, f"stride {stride} is too small for width {width}")
    if width > MAX_SIDE or height > MAX_SIDE or stride * height > MAX_BYTES:
        # The compositor keeps a copy of every window; one client must not make it allocate gigabytes.
        raise BufferError(2, f"buffer {width}x{height} (stride {stride}) is over the {MAX_SIDE}-pixel, "
                             f"{MAX_BYTES >> 20} MiB limit")
    image = previous
    if image is None or (image.width, image.height, image.stride, image.format) != (
            width, height, stride, pixel_format):
        data = bytearray(stride * height)
        image = Image(cairo.ImageSurface.create_for_data(data, _CAIRO_FORMAT[pixel_format], width, height,
                                                         stride), data, width, height, stride, pixel_format)
        rows = None
    y0, y1 = (0, height) if rows is None else (max(0, rows[0]), min(height, rows[1]))
    if y1 > y0:
        start, length = y0 * stride, (y1 - y0) * stride
        wl.wl_shm_buffer_begin_access(shm)
        try:
            source = wl_ffi.cast("char *", wl.wl_shm_buffer_get_data(shm)) + start
            target = wl_ffi.from_buffer(image.data)
            wl_ffi.memmove(wl_ffi.cast("char *", target) + start, source, length)
        finally:
            wl.wl_shm_buffer_end_access(shm)
        image.surface.mark_dirty()
    return image


def release(buffer: ffi.WlResource) -> None:
    """wl_buffer.release: the client may reuse the buffer."""
    wl.wl_resource_post_event(wl_resource(buffer), 0)
