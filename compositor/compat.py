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
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pywayland import ffi, lib
from pywayland.dispatcher import Dispatcher
from pywayland.protocol_core.globals import Global
from pywayland.protocol_core.interface import Interface
from pywayland.protocol_core.message import Message
from pywayland.protocol_core.resource import Resource
from pywayland.scanner.argument import ArgumentType
from pywayland.server.display import Display
from pywayland.server.listener import Listener

from llmos.compositor import libwayland

log = logging.getLogger("llmos.compositor")

# Live resources by address: the only strong reference keeping them alive (pywayland relies on a
# reference cycle that the garbage collector may break while libwayland still points at it).
RESOURCES: dict[int, Resource[Any]] = {}
# The client each adopted resource belonged to, kept after its destruction for per-client tables.
_owners: weakref.WeakKeyDictionary[Resource[Any], int] = weakref.WeakKeyDictionary()
R = TypeVar("R", bound=Resource[Any])
# Live resource count per client address: a client creating objects without bound is disconnected.
MAX_OBJECTS_PER_CLIENT = 20_000
_per_client: dict[int, int] = {}

def _bundled_server_library() -> str:
    """The libwayland-server that pywayland itself loaded (the system copy does not know its buffers)."""
    with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
        for line in maps:
            path = line.rstrip("\n").split(maxsplit=5)[-1]
            if "libwayland-server" in path and path.startswith("/"):
                return path
    raise RuntimeError("pywayland's libwayland-server is not mapped in this process")


wl_ffi = libwayland.ffi()
wl = wl_ffi.dlopen(_bundled_server_library())


def address(pointer: Resource[Any] | ffi.CData | None) -> int:
    """The integer address of a pywayland cdata pointer (or of a Resource)."""
    cdata = pointer._ptr if isinstance(pointer, Resource) else pointer
    if cdata is None:
        raise ValueError("no address: the object was already destroyed")
    return int(ffi.cast("uintptr_t", cdata))


def alive(resource: Resource[Any]) -> bool:
    """Whether libwayland still holds the resource: false once a request, a protocol error or the
    client's disconnect destroyed it, after which no event may be sent on it."""
    return resource._ptr is not None


def wl_resource(pointer: Resource[Any] | ffi.WlResource) -> Any:  # a cdata of the untyped `wl`
    """The same `struct wl_resource *` as a cdata of our ABI-mode `wl` library."""
    return wl_ffi.cast("struct wl_resource *", address(pointer))


class ProtocolError(Exception):
    """Raised by a request handler: the client gets this error on `resource` and is disconnected."""

    def __init__(self, resource: Resource[Any] | ffi.WlResource, code: int, message: str) -> None:
        super().__init__(message)
        self.resource = resource
        self.code = code
        self.message = message


def _pointer(resource: Resource[Any] | ffi.WlResource) -> ffi.WlResource | None:
    """The `struct wl_resource *` of a resource (or a raw one as is); None once it was destroyed."""
    return resource._ptr if isinstance(resource, Resource) else resource


def post_error(resource: Resource[Any] | ffi.WlResource, code: int, message: str) -> None:
    """Send a protocol error (the client is disconnected once it is flushed)."""
    pointer = _pointer(resource)
    if pointer is not None:
        log.info("protocol error %d: %s", code, message)
        lib.wl_resource_post_error(pointer, code, message.replace("%", "%%").encode())


def client_of(resource: Resource[Any] | ffi.WlResource) -> int:
    """The address of the wl_client owning a live resource."""
    pointer = _pointer(resource)
    if pointer is None:
        raise ValueError("the resource was already destroyed")
    return address(lib.wl_resource_get_client(pointer))


def owner(resource: Resource[Any]) -> int:
    """The address of the wl_client an adopted resource belongs to, also after its destruction: our key
    for per-client state."""
    return _owners[resource]


def client_credentials(client: int) -> tuple[int, int, int]:
    pid, uid, gid = wl_ffi.new("int *"), wl_ffi.new("unsigned *"), wl_ffi.new("unsigned *")
    wl.wl_client_get_credentials(wl_ffi.cast("struct wl_client *", client), pid, uid, gid)
    return pid[0], uid[0], gid[0]


def implementation_error(client: int, message: str) -> None:
    wl.wl_client_post_implementation_error(wl_ffi.cast("struct wl_client *", client), b"%s",
                                           wl_ffi.new("char[]", message.encode()))


class _Request:
    """Decodes one request's arguments the server way (defects 2 and 3)."""

    def __init__(self, message: Message) -> None:
        self.name = message.name
        self.arguments = message.arguments

    def c_to_arguments(self, c_args: ffi.WlArgument) -> list[object]:
        values: list[object] = []
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


class _ServerDispatcher(Dispatcher, Generic[R]):
    """Routes request `name` to `impl.name(resource, *args)`; errors become protocol errors."""

    def __init__(self, messages: list[Message], impl: object, on_destroy: Callable[[R], None] | None) -> None:
        super().__init__(messages, destructor=True)
        # pywayland's dispatcher_func decodes through .messages[opcode].c_to_arguments and calls
        # .destructor; its stub types them as Message and None, which these stand in for.
        self.messages = [_Request(message) for message in messages]  # type: ignore[misc]
        self.impl = impl
        self.on_destroy = on_destroy
        self.destructor = _destroyed  # type: ignore[assignment]

    def __getitem__(self, opcode_or_name: str | int) -> Callable[..., None]:
        opcode = self._names[opcode_or_name] if isinstance(opcode_or_name, str) else opcode_or_name
        name = self.messages[opcode].name
        handler = getattr(self.impl, name, None) if self.impl is not None else None
        if handler is None and name in ("destroy", "release"):
            handler = _destroy_request
        return _guarded(handler, name)


def _destroy_request(resource: Resource[Any]) -> None:
    resource.destroy()


def _guarded(handler: Callable[..., object] | None, name: str) -> Callable[..., None]:
    def call(resource: Resource[Any], *args: object) -> None:
        if handler is None:
            return
        try:
            handler(resource, *args)
        except ProtocolError as error:
            post_error(error.resource, error.code, error.message)
        except Exception:
            log.error("request %s.%s failed:\n%s", resource.interface.name, name, traceback.format_exc())
            if alive(resource):
                implementation_error(client_of(resource), f"{resource.interface.name}.{name} failed")
    return call


def _destroyed(resource: Resource[Any]) -> None:
    """libwayland destroyed the resource (request, error or disconnect): drop our references."""
    if resource._ptr is not None:
        RESOURCES.pop(address(resource._ptr), None)
        client = _owners.get(resource)
        if client is not None and client in _per_client:
            _per_client[client] -= 1
            if _per_client[client] <= 0:
                del _per_client[client]
    dispatcher = resource.dispatcher
    callback = None
    if isinstance(dispatcher, _ServerDispatcher):  # always: only it installs this destructor
        callback, dispatcher.on_destroy = dispatcher.on_destroy, None
    resource._ptr = None
    if callback is not None:
        try:
            callback(resource)
        except Exception:
            log.error("destroy handler of %s failed:\n%s", resource.interface.name, traceback.format_exc())


def adopt(resource: R, impl: object = None, on_destroy: Callable[[R], None] | None = None) -> R:
    """Make a freshly created resource dispatch its requests to `impl` (defect 1) and keep it alive."""
    pointer = resource._ptr
    if pointer is None:
        raise ValueError(f"cannot adopt a destroyed {resource.interface.name}")
    resource.dispatcher = _ServerDispatcher(resource.interface.requests, impl, on_destroy)
    lib.wl_resource_set_dispatcher(pointer, lib.dispatcher_func, resource._handle, resource._handle,
                                   lib.resource_destroy_func)
    RESOURCES[address(pointer)] = resource
    client = client_of(resource)
    _owners[resource] = client
    count = _per_client.get(client, 0) + 1
    _per_client[client] = count
    if count > MAX_OBJECTS_PER_CLIENT:
        log.info("client %#x exceeded %d objects; disconnecting it", client, MAX_OBJECTS_PER_CLIENT)
        wl.wl_client_post_no_memory(wl_ffi.cast("struct wl_client *", client))
    return resource


def create(resource_class: type[R], parent: Resource[Any], new_id: int, impl: object = None,
           on_destroy: Callable[[R], None] | None = None, version: int | None = None) -> R:
    """Create the object a client asked for with a new_id argument (defect 2)."""
    if parent._ptr is None:
        raise ValueError(f"{parent.interface.name} was already destroyed")
    client = lib.wl_resource_get_client(parent._ptr)
    resource = resource_class(client, version or parent.version, new_id)
    if resource._ptr == ffi.NULL:
        wl.wl_client_post_no_memory(wl_ffi.cast("struct wl_client *", address(client)))
        raise MemoryError("wl_resource_create failed")
    return adopt(resource, impl, on_destroy)


def create_server_object(resource_class: type[R], peer: Resource[Any], impl: object = None,
                         on_destroy: Callable[[R], None] | None = None) -> R:
    """Create an object on the server's initiative (id 0: libwayland picks one), e.g. wl_data_offer."""
    return create(resource_class, peer, 0, impl, on_destroy)


def make_global(display: Display, interface: type[Interface], version: int,
                bind: Callable[[Resource[Any]], object]) -> Global[Any]:
    """A global whose bind handler cannot crash the compositor."""
    glob = interface.global_class(display, version=version)

    def bound(resource: Resource[Any]) -> None:
        try:
            bind(resource)
        except Exception:
            log.error("binding %s failed:\n%s", interface.name, traceback.format_exc())
            if alive(resource):
                implementation_error(client_of(resource), f"binding {interface.name} failed")

    glob.bind_func = bound  # type: ignore[assignment]  # pywayland's stub says type[T]; it is the callback
    return glob


def _post_event(self: Resource[Any], opcode: int, *args: Any) -> None:
    """Marshal an event, arrays included (defect 4); events to dead or too-old resources are dropped."""
    if self._ptr is None:
        return
    message = self.interface.events[opcode]
    if message.version is not None and self.version < message.version:
        return
    c_args: ffi.WlArgument = ffi.new("union wl_argument []", max(1, len(message.arguments)))
    keep: list[ffi.CData] = []
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
                text: ffi.CharCData = ffi.new("char []", value.encode())
                keep.append(text)
                slot.s = text
        elif kind in (ArgumentType.Object, ArgumentType.NewId):
            pointer = value._ptr if isinstance(value, Resource) else value
            slot.o = ffi.NULL if pointer is None else ffi.cast("struct wl_object *", pointer)
        elif kind == ArgumentType.Array:
            data = bytes(value)
            array: ffi.WlArray = ffi.new("struct wl_array *")
            storage: ffi.CData = ffi.new("char []", max(1, len(data)))
            ffi.buffer(storage, len(data))[:] = data
            array.size = array.alloc = len(data)
            array.data = storage
            keep += [array, storage]
            slot.a = array
    lib.wl_resource_post_event_array(self._ptr, opcode, c_args)


Resource._post_event = _post_event  # type: ignore[method-assign]


class DestroyWatch:
    """Calls `callback` once when a libwayland-owned resource (e.g. a wl_buffer) is destroyed."""

    def __init__(self, pointer: ffi.WlResource, callback: Callable[[], None]) -> None:
        self._callback: Callable[[], None] | None = callback
        listener = Listener(self._notify)
        self._listener: Listener | None = listener
        assert listener._ptr is not None  # Listener's constructor sets it
        lib.wl_resource_add_destroy_listener(pointer, listener._ptr)

    def _notify(self, _listener: Listener, _data: object) -> None:
        callback = self._callback
        self.cancel()
        if callback is not None:
            callback()

    def cancel(self) -> None:
        if self._listener is not None:
            self._listener.remove()
            self._listener = None
        self._callback = None


def event_loop_fd(display: Display) -> int:
    """The epoll fd of the display's wl_event_loop, for asyncio's add_reader."""
    assert display._ptr is not None, "the display was destroyed"
    loop = lib.wl_display_get_event_loop(display._ptr)
    return int(wl.wl_event_loop_get_fd(wl_ffi.cast("struct wl_event_loop *", address(loop))))


def set_max_buffer_size(display: Display, size: int) -> None:
    """Bound what libwayland buffers for a client that stops reading (it is then disconnected)."""
    with contextlib.suppress(AttributeError):  # libwayland < 1.23 lacks it
        wl.wl_display_set_default_max_buffer_size(
            wl_ffi.cast("struct wl_display *", address(display._ptr)), size)
