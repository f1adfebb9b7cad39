"""Fetch a bundle from a URL into a temporary file beside where it is used (same file system, on the
data partition), refusing early when it is over the size limit. The file is verified afterwards like any
other bundle; the download itself is trusted for nothing.

A power cut during a download leaves its temporary file behind: a gigabyte on the data partition. The
file's name carries the boot and the process that made it, so the next download removes every one whose
boot is over or whose process is gone (`remove_stale`)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

from llmos.update.bundle import BundleRefused, Progress


class DownloadError(Exception):
    pass


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


HEAD_BYTES = 128 << 10  # a bundle's manifest and signature come first, in much less than this
TEMP_PREFIX = ".bundle-"
_TEMP_NAME = re.compile(r"\.bundle-([0-9a-f]{32})-(\d+)-")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID) -> str:
    """This boot's id (32 hex digits); a fixed one where /proc has none, which keeps every file of it."""
    try:
        return path.read_text().strip().replace("-", "").lower()
    except OSError:
        return "0" * 32


def temp_file(directory: Path, suffix: str) -> tuple[int, Path]:
    """A new file in directory (fd, path) named for this boot and process, so `remove_stale` can tell
    a leftover from a file in use."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{boot_id()}-{os.getpid()}-", suffix=suffix,
                                dir=directory)
    return fd, Path(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(directory: Path, this_boot: str | None = None) -> list[Path]:
    """Remove temporary bundle files left by an earlier boot (a power cut) or by a process that is gone
    (killed); files of running downloads stay. Returns what was removed."""
    this_boot = this_boot or boot_id()
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for path in directory.iterdir():
            match = _TEMP_NAME.match(path.name)
            if not path.name.startswith(TEMP_PREFIX) or not path.is_file():
                continue
            if match is None or match.group(1) != this_boot or not _alive(int(match.group(2))):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed


def download(url: str, directory: Path, *, max_bytes: int, progress: Progress, timeout: float = 60.0,
             check_head: Callable[[bytes], object] | None = None) -> Path:
    """Stream url to a new file in directory and return its path; the caller removes it. check_head
    sees the first HEAD_BYTES (or the whole file, if shorter) once, and may refuse the rest by raising
    (a bundle signed by another key is refused after its first kilobytes, not after a gigabyte)."""
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale(directory)
    fd, path = temp_file(directory, ".download")
    try:
        with os.fdopen(fd, "wb") as out, httpx.stream("GET", url, follow_redirects=True,
                                                       timeout=timeout) as response:
            if response.status_code != 200:
                raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
            announced = int(response.headers.get("content-length", "0") or 0)
            if announced > max_bytes:
                raise BundleRefused("size", f"{url} is {announced} bytes, over the limit of {max_bytes} "
                                            "bytes (nothing downloaded)")
            done, head = 0, b""
            for chunk in response.iter_bytes():
                done += len(chunk)
                if done > max_bytes:
                    raise BundleRefused("size", f"{url}: more than the limit of {max_bytes} bytes; "
                                                "download stopped")
                if check_head is not None and len(head) < HEAD_BYTES:
                    head += chunk[:HEAD_BYTES - len(head)]
                    if len(head) == HEAD_BYTES:
                        check_head(head)
                out.write(chunk)
                progress("download", done, max(announced, done))
            if check_head is not None and len(head) < HEAD_BYTES:
                check_head(head)
            out.flush()
            os.fsync(out.fileno())
    except httpx.HTTPError as error:
        path.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {type(error).__name__}: {error}") from error
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path
