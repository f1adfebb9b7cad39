"""The files the compositor reads on its way to the shell's first screen, listed at image build time so
that stage 1 can read them ahead (init/stage1.py, `read_ahead`).

    python3 -S -c "import sys; from llmos.readahead import main; sys.exit(main(sys.argv[1:]))" \\
        FILE HOST_DIR=IMAGE_DIR...
    (host/image.py runs it with the image's code and dependencies on the path)

Why: under TCG, importing the first screen's code from the compressed root took 1.6–1.8 s with a cold
page cache against 0.75 s warm in a settled VM: each file is decompressed from the squashfs as it is
first read, on the compositor's own CPU. Meanwhile, from switch_root until PID 1 has started, one of
two CPUs is idle. Stage 1 reads the listed files there, so the compositor finds them in memory.

The list holds paths inside the image, one per line, in the order they were first read: the bytecode
and extension modules Python loads (from the audit hook's `open` events and the modules' files), then
the shared libraries and fonts mapped into the process. The recording process runs the first screen,
then imports the rest of the compositor, so what the screen needs comes first. HOST_DIR=IMAGE_DIR pairs
say where the build's trees are mounted in the image; system files (/usr, /etc, /var/cache) keep their
paths, and anything else (the build's temporary files, /proc) is left out.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

IMAGE_FILE = Path("/usr/lib/llmos/readahead.list")  # init/stage1.py has its own copy: it imports no llmos
SYSTEM = ("/usr/", "/etc/", "/var/cache/")  # the same paths in the image as on the building host
KINDS = (".pyc", ".so", ".ttf", ".otf", ".cache-8", ".json", ".marshal", ".toml")  # what is worth reading


def first_screen() -> None:
    """What `python3 -m llmos.compositor` runs before the screen is up (compositor/__main__.py)."""
    from llmos.compositor import startup

    startup.skip_unused_imports()
    from llmos.compositor import first_screen as screen
    from llmos.compositor import settings
    from llmos.compositor.outputs.headless import HeadlessOutput

    options, _, _ = settings.load()
    with contextlib.redirect_stdout(io.StringIO()):  # its boot marker is not this build step's output
        screen.paint(options, HeadlessOutput(1280, 800))


def serving() -> None:
    """What it imports once the screen is up."""
    from llmos.compositor import startup

    startup.defer_scanner()
    import llmos.compositor.server
    import llmos.compositor.shell.shell  # noqa: F401


def record(steps: Iterable[Callable[[], None]]) -> list[str]:
    """Run the steps in this process; the files each read, in order, as paths on this host."""
    seen: dict[str, None] = {}
    loaded(seen)  # what this process had imported before it began, in the order it did (the llmos package)

    def opened(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and isinstance(args[0], str):
            seen.setdefault(os.path.realpath(args[0]))

    sys.addaudithook(opened)  # for the rest of this process's life: it is a build step's own process
    for step in steps:
        step()
        loaded(seen)
        for line in Path("/proc/self/maps").read_text().splitlines():
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/"):
                seen.setdefault(os.path.realpath(fields[5]))
    return list(seen)


def loaded(seen: dict[str, None]) -> None:
    """Add the files of the modules imported so far: extension modules, which no `open` event shows,
    and what was imported before the audit hook was in place."""
    for module in list(sys.modules.values()):
        frozen = getattr(getattr(module, "__spec__", None), "origin", None) == "frozen"  # in the interpreter
        if (name := getattr(module, "__file__", None)) and not frozen:
            seen.setdefault(os.path.realpath(name))


def worth_reading(path: str) -> bool:
    return path.endswith(KINDS) or ".so." in os.path.basename(path)  # libcairo.so.2.11600.0


def in_image(paths: Iterable[str], mounts: dict[str, str]) -> list[str]:
    """The same files as the image names them: bytecode for sources, only kinds worth reading ahead."""
    found: dict[str, None] = {}
    for path in paths:
        if path.endswith(".py"):
            path = importlib.util.cache_from_source(path)  # the image holds compiled bytecode beside it
        image = next((target + path[len(host):] for host, target in mounts.items()
                      if path.startswith(host.rstrip("/") + "/")), None)
        if image is None and path.startswith(SYSTEM):
            image = path
        if image is not None and worth_reading(image):
            found.setdefault(image)
    return list(found)


def main(argv: list[str]) -> int:
    if len(argv) < 1 or not all("=" in pair for pair in argv[1:]):
        print("usage: readahead FILE HOST_DIR=IMAGE_DIR...", file=sys.stderr)
        return 2
    target = Path(argv[0])
    mounts = dict(pair.split("=", 1) for pair in argv[1:])
    mounts = {os.path.realpath(host): image for host, image in mounts.items()}
    paths = in_image(record([first_screen, serving]), mounts)
    from llmos import atomicfile

    target.parent.mkdir(parents=True, exist_ok=True)
    atomicfile.write_text(target, "".join(f"{path}\n" for path in paths))
    print(f"read-ahead list: {len(paths)} files the compositor reads until the shell is on screen")
    return 0
