"""`python -m llmos.kernel` starts the app hosts' zygote before its own imports, so that under
emulation the zygote loads beside them instead of after them; and not at all with [sandbox] prefork
off. Checked in a real kernel process, stopped at the moment it imports kernel/service.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Stops the kernel when it first imports its service, naming the children it has started by then.
AT_THE_IMPORTS = """import json, os, sys
class Probe:
    def find_spec(self, name, path=None, target=None):
        if name != "llmos.kernel.service":
            return None
        children = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                if int(stat[1]) == os.getpid():
                    command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
                    environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\\0")
                    wayland = [v.decode() for v in environ if v.startswith((b"WAYLAND_", b"XDG_RUNTIME"))]
                    children.append(" ".join([command, *sorted(wayland)]))
            except (OSError, IndexError, ValueError):
                pass
        print(json.dumps(children), flush=True)
        os._exit(0)
sys.meta_path.insert(0, Probe())
from llmos.kernel.__main__ import run
run()
"""


def children_at_the_imports(tmp_path: Path, prefork: bool, renderer: str = "null") -> list[str]:
    """Each child's command line, then its Wayland variables."""
    config = tmp_path / "llmos.toml"
    config.write_text(f'[sandbox]\nprefork = {str(prefork).lower()}\nrenderer = "{renderer}"\n'
                      f'[compositor]\nruntime_dir = "{tmp_path / "xdg"}"\nsocket = "wayland-9"\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WAYLAND_", "XDG_RUNTIME"))}
    env |= {"LLMOS_CONFIG": str(config), "LLMOS_RUN_DIR": str(tmp_path / "run"),
            "LLMOS_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-c", AT_THE_IMPORTS], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    children: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return children


@pytest.mark.timeout(90)
def test_the_zygote_starts_before_the_kernels_own_imports(tmp_path: Path) -> None:
    children = children_at_the_imports(tmp_path, prefork=True)
    assert [command for command in children if "llmos.kernel.sandbox.zygote" in command], children
    zygote = next(command for command in children if "llmos.kernel.sandbox.zygote" in command)
    assert f"--cache {tmp_path / 'state' / 'cache' / 'quickjs'}" in zygote
    assert "--preload" not in zygote  # renderer = "null": no window modules to load
    assert (tmp_path / "run" / "apps").stat().st_mode & 0o777 == 0o700


@pytest.mark.timeout(90)
def test_windows_asked_before_the_compositor_is_up_are_prepared_for(tmp_path: Path) -> None:
    """The kernel starts beside the compositor: with no socket yet, the zygote still preloads the
    window's modules and carries the socket's future place, which its app hosts inherit."""
    zygote, = (command for command in children_at_the_imports(tmp_path, prefork=True, renderer="wayland")
               if "llmos.kernel.sandbox.zygote" in command)
    assert "--preload wayland" in zygote
    assert zygote.endswith(f" WAYLAND_DISPLAY=wayland-9 XDG_RUNTIME_DIR={tmp_path / 'xdg'}"), zygote


@pytest.mark.timeout(90)
def test_without_prefork_no_zygote_starts(tmp_path: Path) -> None:
    assert children_at_the_imports(tmp_path, prefork=False) == []


# Imported only by the calls that need them: each is tens of milliseconds of every kernel start on a
# host, seconds under TCG, on the way to the first app after boot.
NOT_AT_START = ("quickjs_rs", "wasmtime", "httpx", "urllib3", "numpy", "llama_cpp", "anthropic")


def test_the_kernels_imports_leave_out_what_only_some_calls_need() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, llmos.kernel.service; "
                           f"print(*[m for m in {NOT_AT_START!r} if m in sys.modules])"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == []
