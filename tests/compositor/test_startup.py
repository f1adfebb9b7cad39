"""compositor/startup.py: the imports the compositor's process skips, each in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos import prebuilt_ffi

PROBE = """
import json, sys
from llmos.compositor import startup
startup.skip_unused_imports()
startup.defer_scanner()
import asyncio
from pywayland.protocol.wayland import WlSurface
from pywayland.protocol_core import argument
loaded = {"scanner": "pywayland.scanner.protocol" in sys.modules, "ssl": "_ssl" in sys.modules}
try:
    import ssl
except ImportError:
    loaded["ssl import"] = "refused"
from pywayland.scanner import Protocol  # the package's own name: its __init__ runs now
import pywayland.scanner.argument as real
loaded["Protocol"] = Protocol.__module__
loaded["same enum"] = real.ArgumentType is argument.ArgumentType
async def main():
    return 7
loaded["asyncio"] = asyncio.run(main())
print(json.dumps(loaded))
"""


def test_ssl_and_the_scanner_are_not_imported_and_the_scanner_still_works() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {"scanner": False, "ssl": False, "ssl import": "refused",
                                       "Protocol": "pywayland.scanner.protocol", "same enum": True,
                                       "asyncio": 7}


def test_a_deferred_package_that_is_missing_or_loaded_is_left_alone() -> None:
    code = ("import sys, json; from llmos.compositor import startup; import json as before; "
            "startup.defer('no_such_package_here'); startup.defer('json'); "
            "print(json.dumps(['no_such_package_here' in sys.modules, sys.modules['json'] is before]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [False, True]



CTYPES_UTIL = """
import json, sys
from llmos.compositor import startup
startup.skip_unused_imports()
import cairocffi
ran = "subprocess" in sys.modules  # the module's own imports
surface = cairocffi.ImageSurface(cairocffi.FORMAT_RGB24, 4, 4)
from ctypes.util import find_library
found = find_library("c")
print(json.dumps([ran, "subprocess" in sys.modules, bool(found and "libc" in found)]))
"""


@pytest.mark.parametrize("prebuilt", [True, False])
def test_ctypes_util_runs_only_when_its_search_is_needed(prebuilt: bool, tmp_path: Path) -> None:
    """cairocffi imports find_library, and the build's record answers it: the module does not run until
    something calls it. Without the record cairocffi searches, and finds Cairo, as ever."""
    if prebuilt:
        prebuilt_ffi.generate(tmp_path)
    env = {**os.environ, "LLMOS_FFI_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", CTYPES_UTIL], capture_output=True, text=True, check=True,
                          env=env, timeout=120)
    assert json.loads(done.stdout) == [not prebuilt, True, True]
