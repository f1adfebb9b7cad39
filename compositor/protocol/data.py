"""wl_data_device_manager: copy and paste between clients (selection only, no drag and drop).

The compositor only brokers: when a client sets the selection, the client holding keyboard focus gets
a wl_data_offer listing the source's MIME types; its receive(fd) is forwarded to the source as send(fd).
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import TYPE_CHECKING

from pywayland.protocol.wayland import (
    WlDataDeviceManager,
    WlDataDeviceManagerResource,
    WlDataDeviceResource,
    WlDataOfferResource,
    WlDataSourceResource,
    WlSeatResource,
    WlSurfaceResource,
)

from llmos.compositor.compat import adopt, alive, create, create_server_object, make_global, owner
from llmos.compositor.protocol.core import handler_of

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor


class DataSource:
    def __init__(self, parent: WlDataDeviceManagerResource, new_id: int, manager: DataDeviceManager) -> None:
        self.manager = manager
        self.mime_types: list[str] = []
        self.resource = create(WlDataSourceResource, parent, new_id, self, self._destroyed)

    def offer(self, resource: WlDataSourceResource, mime_type: str) -> None:
        if len(self.mime_types) < 64:
            self.mime_types.append(mime_type)

    def set_actions(self, resource: WlDataSourceResource, actions: int) -> None:
        pass

    def _destroyed(self, resource: WlDataSourceResource) -> None:
        if self.manager.selection is self:
            self.manager.set_selection(None)


class DataOffer:
    def __init__(self, source: DataSource, peer: WlDataDeviceResource) -> None:
        self.source = source
        self.resource = create_server_object(WlDataOfferResource, peer, self)

    def receive(self, resource: WlDataOfferResource, mime_type: str, fd: int) -> None:
        source = self.source
        if alive(source.resource) and source is source.manager.selection:
            source.resource.send(mime_type, fd)  # libwayland sends a duplicate
        os.close(fd)

    def accept(self, resource: WlDataOfferResource, serial: int, mime_type: str | None) -> None:
        pass

    def finish(self, resource: WlDataOfferResource) -> None:
        pass

    def set_actions(self, resource: WlDataOfferResource, actions: int, preferred: int) -> None:
        pass


class DataDeviceManager:
    VERSION = 3

    def __init__(self, server: Compositor) -> None:
        self.server = server
        self.devices: dict[int, list[WlDataDeviceResource]] = defaultdict(list)
        self.selection: DataSource | None = None
        self.glob = make_global(server.display, WlDataDeviceManager, self.VERSION, lambda r: adopt(r, self))

    def create_data_source(self, resource: WlDataDeviceManagerResource, new_id: int) -> None:
        DataSource(resource, new_id, self)

    def get_data_device(self, resource: WlDataDeviceManagerResource, new_id: int,
                        seat: WlSeatResource) -> None:
        device = create(WlDataDeviceResource, resource, new_id, _DeviceRequests(self), self._device_gone)
        client = owner(device)
        self.devices[client].append(device)
        focus = self.server.seat.keyboard_focus
        if focus is not None and focus.client == client:
            self._offer_to(device)

    def _device_gone(self, resource: WlDataDeviceResource) -> None:
        devices = self.devices.get(owner(resource), [])
        if resource in devices:
            devices.remove(resource)

    def set_selection(self, source: DataSource | None) -> None:
        old = self.selection
        if old is source:
            return
        self.selection = source
        if old is not None and alive(old.resource):
            old.resource.cancelled()
        focus = self.server.seat.keyboard_focus
        if focus is not None:
            self.focus_changed(focus.client)

    def focus_changed(self, client: int) -> None:
        for device in self.devices.get(client, []):
            self._offer_to(device)

    def _offer_to(self, device: WlDataDeviceResource) -> None:
        source = self.selection
        if source is None:
            device.selection(None)
            return
        offer = DataOffer(source, device)
        # pywayland's signatures type object arguments as the interface class; the server sends resources
        device.data_offer(offer.resource)  # type: ignore[arg-type]
        for mime_type in source.mime_types:
            offer.resource.offer(mime_type)
        device.selection(offer.resource)  # type: ignore[arg-type]


class _DeviceRequests:
    def __init__(self, manager: DataDeviceManager) -> None:
        self.manager = manager

    def set_selection(self, resource: WlDataDeviceResource, source: WlDataSourceResource | None,
                      serial: int) -> None:
        handler = handler_of(source, DataSource)
        if source is not None and handler is None:
            return
        last = self.manager.server.seat.last_serial.get(owner(resource))
        if last is None or serial > last:
            return  # a serial we never sent to this client: ignored, as the protocol says
        self.manager.set_selection(handler)

    def start_drag(self, resource: WlDataDeviceResource, source: WlDataSourceResource | None,
                   origin: WlSurfaceResource, icon: WlSurfaceResource | None, serial: int) -> None:
        handler = handler_of(source, DataSource)
        if handler is not None:
            handler.resource.cancelled()
