"""Imports the compositor's process skips or defers, set up before it imports the code they concern.

At boot under TCG the compositor spends most of its way to the shell's first screen importing Python
code, and the first run of each piece is slow there. These imports bring in code it never runs:
- **ssl:** asyncio imports it, and with it OpenSSL, only to offer TLS; the compositor speaks none.
  Without the module asyncio works as on a Python built without ssl.
- **ctypes.util:** cairocffi imports its `find_library`, and with it subprocess, shutil and tempfile,
  for a search the image build has already answered (llmos/prebuilt_ffi.py): the module runs only if
  that search is needed after all.
- **tempfile:** cairocffi imports `NamedTemporaryFile` (with shutil and random) for surfaces that
  write files; the compositor makes none, and the module runs when something first uses it.
- **pywayland's scanner:** pywayland's protocol code needs one enum from `pywayland.scanner.argument`,
  and importing that loads the whole XML scanner first, because the package's `__init__` imports it
  to re-export `Protocol`. The package's `__init__` runs only when a name it defines is read.
The first three are set up before the first screen (`skip_unused_imports`), the scanner before the
server loads (`defer_scanner`): looking it up imports pywayland, which the first screen does not
need. Measured in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def skip_unused_imports() -> None:
    # `import ssl` now raises ImportError, which asyncio expects (typeshed does not know None there)
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    defer("ctypes.util", "find_library")
    defer("tempfile", "NamedTemporaryFile")


def defer_scanner() -> None:
    defer("pywayland.scanner")


def defer(name: str, *functions: str) -> None:
    """Make the module (or package) `name` importable without running its code until one of its
    names is read, or one of `functions` is called. A package's submodules import as usual; a name
    already imported from it as one of `functions` keeps working once the module has run."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)  # imports the parent package, which is needed anyway
    if spec is None or spec.loader is None:
        return  # not here: imported as usual, if at all
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def run() -> None:
        if vars(module).pop("__getattr__", None) is not None:  # once: the module now runs for real
            loader.exec_module(module)

    def run_on_first_use(attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)  # import machinery and tools probing dunders
        run()
        return getattr(module, attribute)

    def later(function: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            run()
            return getattr(module, function)(*args, **kwargs)
        return call

    vars(module)["__getattr__"] = run_on_first_use  # a module-level __getattr__ (PEP 562)
    for function in functions:
        vars(module)[function] = later(function)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


__all__ = ["defer", "defer_scanner", "skip_unused_imports"]
