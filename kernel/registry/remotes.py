"""Remotes: named URLs of other registries, kept in the registry repository's own git config
(`[remote "NAME"] url = …`), so `git --git-dir registry.git remote -v` lists them as well. Also the
errors that syncing with a remote raises."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from dulwich.repo import Repo

from .history import tracking_ref
from .index import LOCAL
from .limits import PROBLEMS_SHOWN

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SCHEMES = ("http", "https", "git")


class SyncError(Exception):
    """A remote operation failed; nothing stored on this machine changed."""


class RemoteError(SyncError):
    """A bad remote name or URL, an unknown remote, or a remote that cannot be reached."""


@dataclass(frozen=True)
class Problem:
    subject: str  # the record's hash (or key, or path) the problem is about
    reason: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason}"


class SyncRefused(SyncError):
    """A pull or push refused as a whole because of what it carried."""

    def __init__(self, what: str, problems: list[Problem], shown: int = PROBLEMS_SHOWN) -> None:
        listed = "; ".join(str(p) for p in problems[:shown])
        more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
        super().__init__(f"{what} refused, nothing changed: {listed}{more}")
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    seen: str | None  # the remote's head when this node last pulled from or pushed to it


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or name == LOCAL or ".." in name or name.endswith((".lock", ".")):
        raise RemoteError(f"{name!r}: a remote name is letters, digits, '.', '_' or '-' (not {LOCAL!r})")
    return name


def check_url(url: str) -> str:
    """http(s):// and git:// URLs as given; a local path (or file:// URL) made absolute."""
    parsed = urlparse(url)
    if parsed.scheme in SCHEMES:
        if not parsed.hostname:
            raise RemoteError(f"{url!r}: no host")
        return url
    if parsed.scheme == "file":
        url = parsed.path
    elif parsed.scheme or ":" in url.split("/")[0]:
        raise RemoteError(f"{url!r}: use http(s)://, git:// or a local path")
    return str(Path(url).expanduser().resolve())


def section(name: str) -> tuple[bytes, bytes]:
    return (b"remote", name.encode())


def all_remotes(repo: Repo) -> list[Remote]:
    config = repo.get_config()
    found = []
    for key in config.sections():
        if len(key) == 2 and key[0] == b"remote":
            name = key[1].decode()
            seen = repo.refs.as_dict().get(tracking_ref(name))
            found.append(Remote(name, config.get(key, b"url").decode(), seen.decode() if seen else None))
    return sorted(found, key=lambda r: r.name)


def get(repo: Repo, name: str) -> Remote:
    for remote in all_remotes(repo):
        if remote.name == name:
            return remote
    raise RemoteError(f"no remote {name!r} (see `llmos app remote list`)")


def add(repo: Repo, name: str, url: str) -> Remote:
    check_name(name)
    url = check_url(url)
    if any(r.name == name for r in all_remotes(repo)):
        raise RemoteError(f"remote {name!r} exists; remove it first")
    config = repo.get_config()
    config.set(section(name), b"url", url.encode())
    config.write_to_path()
    return Remote(name, url, None)


def remove(repo: Repo, name: str) -> Remote:
    remote = get(repo, name)
    config = repo.get_config()
    del config[section(name)]
    config.write_to_path()
    return remote
