"""dulwich's client for a git remote over the network (git:// or smart HTTP(S)), opened one way for the
registry's remotes and for updates from git: a timeout on every socket (dulwich's git:// client sets
none), urllib3's own pool for HTTP, and the client closed on leaving. Each caller words the failures."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import urllib3
from dulwich.client import GitClient, default_urllib3_manager, get_transport_and_path

NETWORK_SCHEMES = ("git", "http", "https")


@contextmanager
def network_client(url: str, timeout: float) -> Iterator[tuple[GitClient, str]]:
    """(client, path on the server) for a git://, http:// or https:// URL; ValueError for another."""
    scheme = urlparse(url).scheme
    if scheme in ("http", "https"):
        pool = default_urllib3_manager(None, timeout=timeout)
        # Without auth callbacks dulwich returns urllib3's own (proxy) pool manager, not its auth wrapper.
        assert isinstance(pool, urllib3.PoolManager)
        client, path = get_transport_and_path(url, pool_manager=pool)
    elif scheme == "git":
        client, path = get_transport_and_path(url)
    else:
        raise ValueError(f"{url}: not a git://, http:// or https:// URL")
    previous = socket.getdefaulttimeout()
    if scheme == "git":
        socket.setdefaulttimeout(timeout)
    try:
        yield client, path
    finally:
        socket.setdefaulttimeout(previous)
        client.close()
