"""Two imports the compositor's process skips, set up before it imports anything else.

At boot under TCG the compositor spends most of its way to the shell's first frame importing Python
code, and the first run of each piece is slow there. Two imports bring in code it never runs:
- **ssl:** asyncio imports it, and with it OpenSSL, only to offer TLS; the compositor speaks none.
  Without the module asyncio works as on a Python built without ssl.
- **pywayland's scanner:** pywayland's protocol code needs one enum from `pywayland.scanner.argument`,
  and importing that loads the whole XML scanner first, because the package's `__init__` imports it
  to re-export `Protocol`. The package is made without running its `__init__`, which runs the first
  time a name it defines is asked for: the same modules and classes, the scanner only when used.
Both were about 8 % of the compositor's imports on a host (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def skip_unused_imports() -> None:
    # `import ssl` now raises ImportError, which asyncio expects (typeshed does not know None there)
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    defer_package_init("pywayland.scanner")


def defer_package_init(name: str) -> None:
    """Import the package `name` without running its `__init__` until one of its own names is read.
    Its submodules import as usual."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)  # imports the parent package, which is needed anyway
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not a package here: imported as usual, if at all
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def init_on_first_use(attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)  # import machinery and tools probing dunders
        del vars(package)["__getattr__"]  # once: __init__ now runs for real
        loader.exec_module(package)
        return getattr(package, attribute)

    vars(package)["__getattr__"] = init_on_first_use  # a module-level __getattr__ (PEP 562)
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)


__all__ = ["defer_package_init", "skip_unused_imports"]
