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


class Bus:
    MAX_MESSAGE = 64 * 1024

    def __init__(self) -> None:
        self.channels: dict[str, set[Subscriber]] = {}

    def subscribe(self, subscriber: Subscriber, channel: str) -> None:
        subscriber.channels.add(channel)
        self.channels.setdefault(channel, set()).add(subscriber)

    def drop(self, subscriber: Subscriber) -> None:
        for channel in subscriber.channels:
            self.channels.get(channel, set()).discard(subscriber)

    def subscribers(self, channel: str) -> list[Subscriber]:
        return list(self.channels.get(channel, ()))
