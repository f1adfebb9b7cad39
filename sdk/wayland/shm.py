"""wl_shm buffers backed by memfd + mmap. A buffer is busy from commit until the compositor's
wl_buffer.release; the pool hands out a free one of the right size or makes a new one (at most
MAX_BUFFERS, so a compositor that never releases cannot make us allocate without bound)."""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from pywayland.protocol.wayland import WlBufferProxy, WlShm, WlShmPoolProxy, WlShmProxy

MAX_BUFFERS = 3


@dataclass(eq=False)
class ShmBuffer:
    width: int
    height: int
    stride: int
    memory: mmap.mmap
    wl_buffer: WlBufferProxy
    pool: WlShmPoolProxy
    busy: bool = False
    releases: int = field(default=0)

    def destroy(self) -> None:
        self.wl_buffer.destroy()
        self.pool.destroy()
        self.memory.close()


class BufferPool:
    def __init__(self, shm: WlShmProxy, on_release: Callable[[ShmBuffer], None]) -> None:
        self._shm = shm
        self._on_release = on_release
        self.buffers: list[ShmBuffer] = []

    def _create(self, width: int, height: int) -> ShmBuffer:
        if width <= 0 or height <= 0:
            raise ValueError(f"a {width}x{height} buffer has no pixels")
        stride = width * 4
        size = stride * height
        fd = os.memfd_create("llmos-wl-buffer", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            memory = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            pool = self._shm.create_pool(fd, size)
        finally:
            os.close(fd)  # libwayland has sent (dup'd) it; our mapping keeps the memory
        wl_buffer = pool.create_buffer(0, width, height, stride, WlShm.format.argb8888.value)
        buffer = ShmBuffer(width, height, stride, memory, wl_buffer, pool)

        def released(_proxy: WlBufferProxy) -> None:
            buffer.busy = False
            buffer.releases += 1
            self._on_release(buffer)

        wl_buffer.dispatcher["release"] = released
        return buffer

    def acquire(self, width: int, height: int) -> ShmBuffer | None:
        """A free buffer of this size, or None when all are busy (wait for a release)."""
        for stale in [b for b in self.buffers if (b.width, b.height) != (width, height) and not b.busy]:
            stale.destroy()
            self.buffers.remove(stale)
        for buffer in self.buffers:
            if not buffer.busy:
                return buffer
        if len(self.buffers) >= MAX_BUFFERS:
            return None
        buffer = self._create(width, height)
        self.buffers.append(buffer)
        return buffer

    def destroy(self) -> None:
        for buffer in self.buffers:
            buffer.destroy()
        self.buffers.clear()
