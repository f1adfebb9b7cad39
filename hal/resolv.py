"""resolv.conf, written atomically.

In the image /etc/resolv.conf is a symlink into /run/llmos because the root is read-only, so the
symlink is followed and the *target* is replaced (temp file + rename in the target's directory)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from llmos import atomicfile


def render(nameservers: Iterable[str], search: Iterable[str] = ()) -> str:
    lines = ["# written by llmos hal; changes are overwritten"]
    domains = list(dict.fromkeys(search))
    if domains:
        lines.append("search " + " ".join(domains))
    # glibc reads at most three nameserver lines
    lines += [f"nameserver {server}" for server in list(dict.fromkeys(nameservers))[:3]]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> bool:
    """Replace the file behind `path` with `text`; False when it already held exactly that."""
    target = Path(os.path.realpath(path))
    try:
        if target.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    atomicfile.write_text(target, text, mode=0o644)
    return True
