"""Workarounds for pywayland 0.4.19's server side, all in one place (see shared/notes/pywayland-server.md).

pywayland is written client-first; as a server it has four defects, fixed here:
 1. resources get a NULL implementation, so requests never reach a handler -> `adopt` re-sets the
    dispatcher with the Python handle as implementation;
 2. `new_id` request arguments go through client-only code -> `_Request` hands back the raw id;
 3. object arguments are looked up in the client proxy registry -> `_Request` uses `RESOURCES`, our
    own map from resource address to Python object (libwayland-owned objects such as wl_buffer come
    back as a raw `struct wl_resource *`);
 4. events with an `array` argument cannot be marshalled -> `_post_event` replaces Resource._post_event.
It also opens the *bundled* libwayland-server a second time in cffi ABI mode (`wl`) for the functions
pywayland does not declare (wl_shm_buffer_*, the event loop fd, client errors), keeps resources alive
until libwayland destroys them, and turns handler exceptions into protocol errors instead of hangs.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable
from typing import Any

import cffi
from pywayland import ffi, lib
from pywayland.dispatcher import Dispatcher
from pywayland.protocol_core.argument import ArgumentType
from pywayland.protocol_core.resource import Resource
from pywayland.server.listener import Listener

log = logging.getLogger("llmos.compositor")

# Live resources by address: the only strong reference keeping them alive (pywayland relies on a
# reference cycle that the garbage collector may break while libwayland still points at it).
RESOURCES: dict[int, Resource] = {}
# Live resource count per client address: a client creating objects without bound is disconnected.
MAX_OBJECTS_PER_CLIENT = 20_000
_per_client: dict[int, int] = {}

_CDEF = """
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


def _bundled_server_library() -> str:
    """The libwayland-server that pywayland itself loaded (the system copy does not know its buffers)."""
    with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
        for line in maps:
            path = line.rstrip("\n").split(maxsplit=5)[-1]
            if "libwayland-server" in path and path.startswith("/"):
                return path
    raise RuntimeError("pywayland's libwayland-server is not mapped in this process")


wl_ffi = cffi.FFI()
wl_ffi.cdef(_CDEF)
wl = wl_ffi.dlopen(_bundled_server_library())


def address(pointer: Any) -> int:
    """The integer address of a pywayland cdata pointer (or of a Resource)."""
    if isinstance(pointer, Resource):
        pointer = pointer._ptr
    return int(ffi.cast("uintptr_t", pointer))


def wl_resource(pointer: Any) -> Any:
    """The same `struct wl_resource *` as a cdata of our ABI-mode `wl` library."""
    return wl_ffi.cast("struct wl_resource *", address(pointer))


class ProtocolError(Exception):
    """Raised by a request handler: the client gets this error on `resource` and is disconnected."""

    def __init__(self, resource: Resource | Any, code: int, message: str) -> None:
        super().__init__(message)
        self.resource = resource
        self.code = code
        self.message = message


def post_error(resource: Resource | Any, code: int, message: str) -> None:
    """Send a protocol error (the client is disconnected once it is flushed)."""
    pointer = resource._ptr if isinstance(resource, Resource) else resource
    if pointer is not None:
        log.info("protocol error %d: %s", code, message)
        lib.wl_resource_post_error(pointer, code, message.replace("%", "%%").encode())


def client_of(resource: Resource | Any) -> int:
    """The address of the wl_client owning a resource: our key for per-client state."""
    pointer = resource._ptr if isinstance(resource, Resource) else resource
    return address(lib.wl_resource_get_client(pointer))


def client_credentials(client: int) -> tuple[int, int, int]:
    pid, uid, gid = wl_ffi.new("int *"), wl_ffi.new("unsigned *"), wl_ffi.new("unsigned *")
    wl.wl_client_get_credentials(wl_ffi.cast("struct wl_client *", client), pid, uid, gid)
    return pid[0], uid[0], gid[0]


def implementation_error(client: int, message: str) -> None:
    wl.wl_client_post_implementation_error(wl_ffi.cast("struct wl_client *", client), b"%s",
                                           wl_ffi.new("char[]", message.encode()))


class _Request:
    """Decodes one request's arguments the server way (defects 2 and 3)."""

    def __init__(self, message: Any) -> None:
        self.name = message.name
        self.arguments = message.arguments

    def c_to_arguments(self, c_args: Any) -> list[Any]:
        values: list[Any] = []
        for index, argument in enumerate(self.arguments):
            value = c_args[index]
            kind = argument.argument_type
            if kind == ArgumentType.Int:
                values.append(value.i)
            elif kind == ArgumentType.Uint:
                values.append(value.u)
            elif kind == ArgumentType.Fixed:
                values.append(value.f / 256.0)
            elif kind == ArgumentType.FileDescriptor:
                values.append(value.h)
            elif kind == ArgumentType.String:
                values.append(None if value.s == ffi.NULL else ffi.string(value.s).decode("utf-8", "replace"))
            elif kind == ArgumentType.Object:
                if value.o == ffi.NULL:
                    values.append(None)
                else:
                    key = address(value.o)
                    values.append(RESOURCES.get(key) or ffi.cast("struct wl_resource *", value.o))
            elif kind == ArgumentType.NewId:
                values.append(value.n)
            elif kind == ArgumentType.Array:
                array = value.a
                values.append(b"" if array == ffi.NULL else bytes(ffi.buffer(array.data, array.size)))
            else:
                values.append(None)
        return values


class _ServerDispatcher(Dispatcher):
    """Routes request `name` to `impl.name(resource, *args)`; errors become protocol errors."""

    def __init__(self, messages: list[Any], impl: Any, on_destroy: Callable[[Resource], None] | None) -> None:
        super().__init__(messages, destructor=True)
        self.messages = [_Request(message) for message in messages]
        self.impl = impl
        self.on_destroy = on_destroy
        self.destructor = _destroyed

    def __getitem__(self, opcode_or_name: str | int) -> Callable[..., None]:
        opcode = self._names[opcode_or_name] if isinstance(opcode_or_name, str) else opcode_or_name
        name = self.messages[opcode].name
        handler = getattr(self.impl, name, None) if self.impl is not None else None
        if handler is None and name in ("destroy", "release"):
            handler = _destroy_request
        return _guarded(handler, name)


def _destroy_request(resource: Resource) -> None:
    resource.destroy()


def _guarded(handler: Callable[..., Any] | None, name: str) -> Callable[..., None]:
    def call(resource: Resource, *args: Any) -> None:
        if handler is None:
            return
        try:
            handler(resource, *args)
        except ProtocolError as error:
            post_error(error.resource, error.code, error.message)
        except Exception:
            log.error("request %s.%s failed:\n%s", resource.interface.name, name, traceback.format_exc())
            if resource._ptr is not None:
                implementation_error(client_of(resource), f"{resource.interface.name}.{name} failed")
    return call


def _destroyed(resource: Resource) -> None:
    """libwayland destroyed the resource (request, error or disconnect): drop our references."""
    key = address(resource._ptr) if resource._ptr is not None else None
    if key is not None:
        RESOURCES.pop(key, None)
        client = getattr(resource, "client", None)
        if client in _per_client:
            _per_client[client] -= 1
            if _per_client[client] <= 0:
                del _per_client[client]
    dispatcher = resource.dispatcher
    callback = dispatcher.on_destroy
    dispatcher.on_destroy = None
    resource._ptr = None
    if callback is not None:
        try:
            callback(resource)
        except Exception:
            log.error("destroy handler of %s failed:\n%s", resource.interface.name, traceback.format_exc())


def adopt(resource: Resource, impl: Any = None,
          on_destroy: Callable[[Resource], None] | None = None) -> Resource:
    """Make a freshly created resource dispatch its requests to `impl` (defect 1) and keep it alive."""
    resource.dispatcher = _ServerDispatcher(resource.interface.requests, impl, on_destroy)
    lib.wl_resource_set_dispatcher(resource._ptr, lib.dispatcher_func, resource._handle, resource._handle,
                                   lib.resource_destroy_func)
    key = address(resource._ptr)
    RESOURCES[key] = resource
    client = client_of(resource)
    resource.client = client
    count = _per_client.get(client, 0) + 1
    _per_client[client] = count
    if count > MAX_OBJECTS_PER_CLIENT:
        log.info("client %#x exceeded %d objects; disconnecting it", client, MAX_OBJECTS_PER_CLIENT)
        wl.wl_client_post_no_memory(wl_ffi.cast("struct wl_client *", client))
    return resource


def create(resource_class: type[Resource], parent: Resource, new_id: int, impl: Any = None,
           on_destroy: Callable[[Resource], None] | None = None, version: int | None = None) -> Resource:
    """Create the object a client asked for with a new_id argument (defect 2)."""
    client = lib.wl_resource_get_client(parent._ptr)
    resource = resource_class(client, version or parent.version, new_id)
    if resource._ptr == ffi.NULL:
        wl.wl_client_post_no_memory(wl_ffi.cast("struct wl_client *", address(client)))
        raise MemoryError("wl_resource_create failed")
    return adopt(resource, impl, on_destroy)


def create_server_object(resource_class: type[Resource], peer: Resource, impl: Any = None,
                         on_destroy: Callable[[Resource], None] | None = None) -> Resource:
    """Create an object on the server's initiative (id 0: libwayland picks one), e.g. wl_data_offer."""
    return create(resource_class, peer, 0, impl, on_destroy)


def make_global(display: Any, interface: Any, version: int, bind: Callable[[Resource], None]) -> Any:
    """A global whose bind handler cannot crash the compositor."""
    glob = interface.global_class(display, version=version)

    def bound(resource: Resource) -> None:
        try:
            bind(resource)
        except Exception:
            log.error("binding %s failed:\n%s", interface.name, traceback.format_exc())
            if resource._ptr is not None:
                implementation_error(client_of(resource), f"binding {interface.name} failed")

    glob.bind_func = bound
    return glob


def _post_event(self: Resource, opcode: int, *args: Any) -> None:
    """Marshal an event, arrays included (defect 4); events to dead or too-old resources are dropped."""
    if self._ptr is None:
        return
    message = self.interface.events[opcode]
    if message.version is not None and self.version < message.version:
        return
    c_args = ffi.new("union wl_argument []", max(1, len(message.arguments)))
    keep: list[Any] = []
    for index, (argument, value) in enumerate(zip(message.arguments, args, strict=True)):
        slot = c_args[index]
        kind = argument.argument_type
        if kind == ArgumentType.Int:
            slot.i = int(value)
        elif kind == ArgumentType.Uint:
            slot.u = int(value) & 0xFFFFFFFF
        elif kind == ArgumentType.Fixed:
            slot.f = round(value * 256)
        elif kind == ArgumentType.FileDescriptor:
            slot.h = value
        elif kind == ArgumentType.String:
            if value is None:
                slot.s = ffi.NULL
            else:
                text = ffi.new("char []", value.encode())
                keep.append(text)
                slot.s = text
        elif kind in (ArgumentType.Object, ArgumentType.NewId):
            pointer = value._ptr if isinstance(value, Resource) else value
            slot.o = ffi.NULL if pointer is None else ffi.cast("struct wl_object *", pointer)
        elif kind == ArgumentType.Array:
            data = bytes(value)
            array = ffi.new("struct wl_array *")
            storage = ffi.new("char []", max(1, len(data)))
            ffi.memmove(storage, data, len(data))
            array.size = array.alloc = len(data)
            array.data = storage
            keep += [array, storage]
            slot.a = array
    lib.wl_resource_post_event_array(self._ptr, opcode, c_args)


Resource._post_event = _post_event  # type: ignore[method-assign]


class DestroyWatch:
    """Calls `callback` once when a libwayland-owned resource (e.g. a wl_buffer) is destroyed."""

    def __init__(self, pointer: Any, callback: Callable[[], None]) -> None:
        self._callback: Callable[[], None] | None = callback
        self._listener: Listener | None = Listener(self._notify)
        lib.wl_resource_add_destroy_listener(pointer, self._listener._ptr)

    def _notify(self, _listener: Listener, _data: Any) -> None:
        callback = self._callback
        self.cancel()
        if callback is not None:
            callback()

    def cancel(self) -> None:
        if self._listener is not None:
            self._listener.remove()
            self._listener = None
        self._callback = None


def event_loop_fd(display: Any) -> int:
    """The epoll fd of the display's wl_event_loop, for asyncio's add_reader."""
    loop = lib.wl_display_get_event_loop(display._ptr)
    return wl.wl_event_loop_get_fd(wl_ffi.cast("struct wl_event_loop *", address(loop)))


def set_max_buffer_size(display: Any, size: int) -> None:
    """Bound what libwayland buffers for a client that stops reading (it is then disconnected)."""
    with contextlib.suppress(AttributeError):  # libwayland < 1.23 lacks it
        wl.wl_display_set_default_max_buffer_size(
            wl_ffi.cast("struct wl_display *", address(display._ptr)), size)
