"""wl_data_device_manager: copy and paste between clients (selection only, no drag and drop).

The compositor only brokers: when a client sets the selection, the client holding keyboard focus gets
a wl_data_offer listing the source's MIME types; its receive(fd) is forwarded to the source as send(fd).
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pywayland.protocol.wayland import WlDataDevice, WlDataDeviceManager, WlDataOffer, WlDataSource

from llmos.compositor.compat import adopt, create, create_server_object, make_global
from llmos.compositor.protocol.core import handler_of

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor


class DataSource:
    def __init__(self, parent: Any, new_id: int, manager: DataDeviceManager) -> None:
        self.manager = manager
        self.mime_types: list[str] = []
        self.resource = create(WlDataSource.resource_class, parent, new_id, self, self._destroyed)

    def offer(self, resource: Any, mime_type: str) -> None:
        if len(self.mime_types) < 64:
            self.mime_types.append(mime_type)

    def set_actions(self, resource: Any, actions: int) -> None:
        pass

    def _destroyed(self, resource: Any) -> None:
        if self.manager.selection is self:
            self.manager.set_selection(None)


class DataOffer:
    def __init__(self, source: DataSource, peer: Any) -> None:
        self.source = source
        self.resource = create_server_object(WlDataOffer.resource_class, peer, self)

    def receive(self, resource: Any, mime_type: str, fd: int) -> None:
        source = self.source
        if source.resource._ptr is not None and source is source.manager.selection:
            source.resource.send(mime_type, fd)  # libwayland sends a duplicate
        os.close(fd)

    def accept(self, resource: Any, serial: int, mime_type: str | None) -> None:
        pass

    def finish(self, resource: Any) -> None:
        pass

    def set_actions(self, resource: Any, actions: int, preferred: int) -> None:
        pass


class DataDeviceManager:
    VERSION = 3

    def __init__(self, server: Compositor) -> None:
        self.server = server
        self.devices: dict[int, list[Any]] = defaultdict(list)
        self.selection: DataSource | None = None
        self.glob = make_global(server.display, WlDataDeviceManager, self.VERSION, lambda r: adopt(r, self))

    def create_data_source(self, resource: Any, new_id: int) -> None:
        DataSource(resource, new_id, self)

    def get_data_device(self, resource: Any, new_id: int, seat: Any) -> None:
        device = create(WlDataDevice.resource_class, resource, new_id, _DeviceRequests(self),
                        self._device_gone)
        self.devices[device.client].append(device)
        focus = self.server.seat.keyboard_focus
        if focus is not None and focus.client == device.client:
            self._offer_to(device)

    def _device_gone(self, resource: Any) -> None:
        devices = self.devices.get(resource.client, [])
        if resource in devices:
            devices.remove(resource)

    def set_selection(self, source: DataSource | None) -> None:
        old = self.selection
        if old is source:
            return
        self.selection = source
        if old is not None and old.resource._ptr is not None:
            old.resource.cancelled()
        focus = self.server.seat.keyboard_focus
        if focus is not None:
            self.focus_changed(focus.client)

    def focus_changed(self, client: int) -> None:
        for device in self.devices.get(client, []):
            self._offer_to(device)

    def _offer_to(self, device: Any) -> None:
        source = self.selection
        if source is None:
            device.selection(None)
            return
        offer = DataOffer(source, device)
        device.data_offer(offer.resource)
        for mime_type in source.mime_types:
            offer.resource.offer(mime_type)
        device.selection(offer.resource)


class _DeviceRequests:
    def __init__(self, manager: DataDeviceManager) -> None:
        self.manager = manager

    def set_selection(self, resource: Any, source: Any, serial: int) -> None:
        handler = handler_of(source)
        if source is not None and not isinstance(handler, DataSource):
            return
        last = self.manager.server.seat.last_serial.get(resource.client)
        if last is None or serial > last:
            return  # a serial we never sent to this client: ignored, as the protocol says
        self.manager.set_selection(handler)

    def start_drag(self, resource: Any, source: Any, origin: Any, icon: Any, serial: int) -> None:
        if source is not None:
            handler_of(source).resource.cancelled()
