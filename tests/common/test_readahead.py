"""llmos/readahead.py: the list stage 1 reads ahead holds what the compositor reads for its first screen,
first, as the image names those files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from llmos.readahead import in_image

RECORD = ("import json; from llmos.readahead import first_screen, record, serving; "
          "print(json.dumps(record([first_screen, serving])))")


def test_the_first_screens_files_come_first_then_the_servers() -> None:
    env = {**os.environ, "LLMOS_CONFIG": "/nonexistent"}
    done = subprocess.run([sys.executable, "-c", RECORD], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    paths: list[str] = json.loads(done.stdout.splitlines()[-1])

    def where(fragment: str) -> int:
        return next(i for i, path in enumerate(paths) if fragment in path)

    assert where("first_screen") < where("compositor/server")  # the server's code after the screen's
    assert where("pangocffi") < where("pywayland/protocol")
    for needed in ("libcairo.so", "libpango-1.0.so", "DejaVuSans", "cairocffi", "llmos/config"):
        assert any(needed in path for path in paths), needed
    assert len(paths) == len(set(paths))


def test_files_are_named_as_in_the_image() -> None:
    mounts = {"/build/trees/code": "", "/build/ffi": "/usr/lib/llmos/ffi"}
    found = in_image(["/build/trees/code/usr/lib/llmos/python/llmos/config.py",
                      "/usr/lib/python3.11/__pycache__/re.cpython-311.pyc",
                      "/build/ffi/llmos_ffi_cairo.py",
                      "/usr/lib/x86_64-linux-gnu/libcairo.so.2.11600.0",
                      "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                      "/usr/bin/python3.11",  # PID 1 has it in memory already
                      "/tmp/pytest-of-root/scratch.pyc",  # not in the image
                      "/build/trees/code/usr/lib/llmos/python/llmos/config.py"], mounts)
    assert found == ["/usr/lib/llmos/python/llmos/__pycache__/config.cpython-311.pyc",
                     "/usr/lib/python3.11/__pycache__/re.cpython-311.pyc",
                     "/usr/lib/llmos/ffi/__pycache__/llmos_ffi_cairo.cpython-311.pyc",
                     "/usr/lib/x86_64-linux-gnu/libcairo.so.2.11600.0",
                     "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]
