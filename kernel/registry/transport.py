"""dulwich's own git clients for the transports a remote may use: git's smart HTTP(S) protocol, the
git protocol (git://) and a local path. Each call is bounded by limits.py (a timeout, a pack size)
and every failure to reach or talk to the remote comes out as one RemoteError that says so."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import SpooledTemporaryFile
from urllib.parse import urlparse

import urllib3
from dulwich.client import GitClient, LocalGitClient
from dulwich.errors import GitProtocolError, NotGitRepository
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from llmos.gitremote import NETWORK_SCHEMES, network_client

from .history import BRANCH
from .limits import MAX_PACK_BYTES, NETWORK_TIMEOUT
from .remotes import RemoteError

SPOOL_IN_MEMORY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    head: ObjectID | None  # the remote's refs/heads/main, if it has one
    refs: int  # how many refs the remote has (0: an empty repository)
    pack_bytes: int


class PackTooLarge(RemoteError):
    pass


@contextmanager
def connect(name: str, url: str) -> Iterator[tuple[GitClient, str]]:
    """A client for `url`; any transport failure inside the block becomes a RemoteError naming it."""
    try:
        if urlparse(url).scheme in NETWORK_SCHEMES:
            with network_client(url, NETWORK_TIMEOUT) as opened:
                yield opened
        else:
            if not Path(url).is_dir():
                raise RemoteError(f"remote {name!r}: {url} does not exist "
                                  f"(create it with `git init --bare {url}`)")
            local = LocalGitClient()
            try:
                yield local, url
            finally:
                local.close()
    except RemoteError:
        raise
    except NotGitRepository:
        raise RemoteError(f"remote {name!r}: {url} is not a git repository") from None
    except (OSError, GitProtocolError, urllib3.exceptions.HTTPError) as error:
        raise RemoteError(f"remote {name!r} at {url} cannot be reached: {_reason(error)}") from None


def _reason(error: BaseException) -> str:
    while isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    text = str(error) or type(error).__name__
    if isinstance(error, ConnectionRefusedError | urllib3.exceptions.NewConnectionError):
        return f"connection refused, is the server up? ({text})"
    if isinstance(error, TimeoutError | socket.timeout | urllib3.exceptions.TimeoutError):
        return f"no answer within {NETWORK_TIMEOUT:g} s ({text})"
    return text


def fetch(name: str, url: str, target: Repo, haves: list[ObjectID]) -> Fetched:
    """Fetch the remote's main branch into `target` (a quarantine repository), at most MAX_PACK_BYTES."""
    head: ObjectID | None = None
    refs_count = 0

    def determine_wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        nonlocal head, refs_count
        head, refs_count = refs.get(BRANCH), len(refs)
        return [head] if head is not None and head not in target.object_store else []

    received = 0
    with SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=target.controldir()) as spool:
        def write(data: bytes) -> int:
            nonlocal received
            received += len(data)
            if received > MAX_PACK_BYTES:
                raise PackTooLarge(f"remote {name!r} sent more than {MAX_PACK_BYTES} bytes; refused")
            return spool.write(data)

        with connect(name, url) as (client, path):
            client.fetch_pack(path, determine_wants, target.get_graph_walker(haves), write)
        if received:
            spool.seek(0)
            target.object_store.add_thin_pack(spool.read, None, max_input_size=MAX_PACK_BYTES)
    return Fetched(head, refs_count, received)


def push(name: str, url: str, source: Repo,
         update_refs: Callable[[dict[Ref, ObjectID]], dict[Ref, ObjectID]]) -> dict[bytes, str | None]:
    """Send what the remote lacks and move its refs as `update_refs` says; ref -> error (None: done)."""
    with connect(name, url) as (client, path):
        # dulwich's own annotations disagree: every client's send_pack takes a str path (only the
        # GitClient base says bytes), and Repo.generate_pack_data is what its clients call, but is typed
        # with a str progress callback where GeneratePackDataFunc has bytes (no progress is passed here).
        result = client.send_pack(path, update_refs,  # type: ignore[arg-type]
                                  generate_pack_data=source.generate_pack_data)  # type: ignore[arg-type]
    return dict(result.ref_status or {})
