"""The libwayland-server functions pywayland does not declare: shm buffers, the event loop's
descriptor, client errors and credentials. compat.py opens them in cffi's ABI mode. The image build
prebuilds these declarations with Cairo's and Pango's (llmos/prebuilt_ffi.py), so the compositor does
not import pycparser to parse them at every start (a seventh of its imports on a host)."""

from __future__ import annotations

from typing import Any

from llmos import prebuilt_ffi

PREBUILT = "llmos_ffi_wayland"  # the module prebuilt_ffi generates from CDEF

CDEF = """
struct wl_shm_buffer; struct wl_resource; struct wl_client; struct wl_event_loop; struct wl_display;
struct wl_shm_buffer *wl_shm_buffer_get(struct wl_resource *resource);
void wl_shm_buffer_begin_access(struct wl_shm_buffer *buffer);
void wl_shm_buffer_end_access(struct wl_shm_buffer *buffer);
void *wl_shm_buffer_get_data(struct wl_shm_buffer *buffer);
int32_t wl_shm_buffer_get_stride(struct wl_shm_buffer *buffer);
uint32_t wl_shm_buffer_get_format(struct wl_shm_buffer *buffer);
int32_t wl_shm_buffer_get_width(struct wl_shm_buffer *buffer);
int32_t wl_shm_buffer_get_height(struct wl_shm_buffer *buffer);
int wl_event_loop_get_fd(struct wl_event_loop *loop);
void wl_client_post_no_memory(struct wl_client *client);
void wl_client_post_implementation_error(struct wl_client *client, const char *msg, ...);
void wl_resource_post_event(struct wl_resource *resource, uint32_t opcode, ...);
void wl_display_set_default_max_buffer_size(struct wl_display *display, size_t max_buffer_size);
void wl_client_get_credentials(struct wl_client *client, int *pid, unsigned *uid, unsigned *gid);
struct wl_client *wl_resource_get_client(struct wl_resource *resource);
void wl_client_destroy(struct wl_client *client);
"""


def ffi() -> Any:
    """A cffi FFI that knows CDEF: the prebuilt one when it matches, else one that parses CDEF now."""
    if (prebuilt := prebuilt_ffi.own(PREBUILT)) is not None:
        return prebuilt
    import cffi

    parsed = cffi.FFI()
    parsed.cdef(CDEF)
    return parsed
