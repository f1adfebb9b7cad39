"""The kernel message bus: the only channel between apps. A channel is reachable only with a
bus:CHANNEL grant, checked on publish, on subscribe and again on every delivery (so a revoked
subscriber stops receiving at once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Deliver = Callable[[str, str, str], Awaitable[None]]  # (channel, message JSON, sender app)


@dataclass(eq=False)
class Subscriber:
    token: str
    app_id: str
    deliver: Deliver
    channels: set[str] = field(default_factory=set)
    key: object = None                                # one subscription per (key, channel): the connection
    closed: Callable[[], bool] = lambda: False         # its connection went away

    def __post_init__(self) -> None:
        if self.key is None:
            self.key = self


class Bus:
    MAX_MESSAGE = 64 * 1024

    def __init__(self) -> None:
        self.channels: dict[str, dict[object, Subscriber]] = {}

    def subscribe(self, subscriber: Subscriber, channel: str) -> Subscriber:
        """Idempotent per (connection, channel): a second subscribe refreshes the token rather than
        adding a second delivery. Returns the subscriber that is now on the channel."""
        members = self.channels.setdefault(channel, {})
        current = members.get(subscriber.key)
        if current is not None and not current.closed():
            current.token, current.app_id, current.deliver = subscriber.token, subscriber.app_id, \
                subscriber.deliver
            return current
        subscriber.channels.add(channel)
        members[subscriber.key] = subscriber
        return subscriber

    def drop(self, subscriber: Subscriber) -> None:
        for channel in subscriber.channels:
            members = self.channels.get(channel, {})
            if members.get(subscriber.key) is subscriber:
                del members[subscriber.key]
            if not members:
                self.channels.pop(channel, None)

    def drop_key(self, key: object) -> None:
        """Drop every subscription made through `key` (a connection that closed)."""
        for channel in list(self.channels):
            members = self.channels[channel]
            if members.pop(key, None) is not None and not members:
                del self.channels[channel]

    def subscribers(self, channel: str) -> list[Subscriber]:
        """The live subscribers; those whose connection closed are dropped here."""
        members = list(self.channels.get(channel, {}).values())
        for gone in [s for s in members if s.closed()]:
            self.drop(gone)
        return [s for s in members if not s.closed()]
