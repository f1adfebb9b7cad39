"""Cairo's and Pango's cffi bindings, and LLM OS's own declarations (compositor/libwayland.py), parsed
at build time instead of at every import.

    python3 -c "import sys; from llmos.prebuilt_ffi import main; sys.exit(main(sys.argv[1:]))" DIR
    (writes the modules, their bytecode and the stamp into DIR; host/image.py runs it for the image)

Why: cairocffi, pangocffi and pangocairocffi parse their C declarations with pycparser whenever they
are imported: 0.64 s of the 0.87 s that importing an app window costs on a host, and many seconds
under emulation, paid by the compositor at boot, by the zygote and by every spawned app host. cffi's
out-of-line ABI mode does that parse once and writes a module that loads in milliseconds.

`install()` adds an import hook, so the prebuilt bindings are used the moment those packages import
their own `ffi` modules, and nothing is loaded by a process that never draws. The `llmos` package calls
it in every process, so this module imports little at its top: checksums, bytecode and cffi are
imported where they are used. The bindings are used
only when the stamp beside them matches cffi's version and the checksum of the packages' declarations;
otherwise the packages parse them as before.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    import importlib.abc  # costs 15 ms to import, so only for the type

IMAGE_DIR = Path("/usr/lib/llmos/ffi")
STAMP = "stamp.json"
# Every file the declarations come from: the stamp holds their digest, so a changed package is noticed
# (without importlib.metadata, whose import alone costs more than a check should).
SOURCES = (("cairocffi", "constants.py"), ("pangocffi", "c_definitions_glib.txt"),
           ("pangocffi", "c_definitions_pango.txt"), ("pangocairocffi", "c_definitions_cairo.txt"),
           ("pangocairocffi", "c_definitions_pangocairo.txt"), ("llmos.compositor", "libwayland.py"))
# the packages' own module that builds their ffi -> the prebuilt module that replaces it
REPLACES = {"cairocffi.ffi": "llmos_ffi_cairo", "pangocffi.ffi_build": "llmos_ffi_pango",
            "pangocairocffi.ffi_build": "llmos_ffi_pangocairo"}
# pangocairo's ffi includes pango's: the package that loads that one first, so both share it (a cdata
# type of one ffi instance is not accepted by another's functions)
IMPORT_FIRST = {"pangocairocffi.ffi_build": "pangocffi"}
# The shared libraries, found once at build time: the packages look for them with
# ctypes.util.find_library, which runs `ldconfig -p` (or gcc) per name, 9 runs per drawing process.
LIBRARIES = "libraries.json"
CAIRO_NAMES = ("cairo-2", "cairo", "libcairo-2")  # cairocffi's find_library names, asked in turn
# pangocffi's and pangocairocffi's: each takes NAME_LOCATION from the environment when it is set
LOCATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "pangocffi.ffi_build": {"PANGO_LOCATION": ("pango", "pango-1", "pango-1.0", "pango-1.0-0"),
                            "GOBJECT_LOCATION": ("gobject-2.0", "gobject-2.0-0"),
                            "GLIB_LOCATION": ("glib-2.0", "glib-2.0-0")},
    "pangocairocffi.ffi_build": {"PANGOCAIRO_LOCATION": ("pangocairo-1.0", "pangocairo-1.0-0")}}


def directory() -> Path:
    return Path(os.environ.get("LLMOS_FFI_DIR", IMAGE_DIR))


def fingerprint() -> dict[str, str]:
    """What the prebuilt modules depend on: cffi's backend version, and the size and CRC-32 of the
    declarations. A checksum, not a cryptographic digest: it tells a changed package from the one the
    bindings were built against (the root they sit on is verified as a whole), and hashlib would load
    OpenSSL into every process that draws."""
    import zlib

    backend = importlib.import_module("_cffi_backend")  # cffi's C part: its version is the format's
    size, checksum = 0, 0
    for package, filename in SOURCES:
        declarations = (_package_dir(package) / filename).read_bytes()
        size, checksum = size + len(declarations), zlib.crc32(declarations, checksum)
    return {"cffi": str(backend.__version__), "declarations": f"{size}:{checksum:08x}"}


def generate(target: Path) -> list[Path]:
    """Write the prebuilt modules (the three packages' and LLM OS's own) and the stamp that names what
    they were built from."""
    import py_compile

    from cffi import FFI

    target.mkdir(parents=True, exist_ok=True)
    cairo_constants = _load_source("llmos_ffi_src_cairo_constants", "cairocffi", "constants.py")
    cairo = FFI()
    cairo.cdef(cairo_constants._CAIRO_HEADERS)
    cairo.set_source(REPLACES["cairocffi.ffi"], None)

    pango_builder = _load_source("llmos_ffi_src_pango_builder", "pangocffi", "ffi_instance_builder.py")
    pango = pango_builder.FFIInstanceBuilder(source=REPLACES["pangocffi.ffi_build"]).generate()

    pangocairo = FFI()
    pangocairo.include(pango)
    pangocairo.set_source(REPLACES["pangocairocffi.ffi_build"], None)
    definitions = _package_dir("pangocairocffi")
    pangocairo.cdef((definitions / "c_definitions_cairo.txt").read_text())
    pangocairo.cdef((definitions / "c_definitions_pangocairo.txt").read_text())

    from llmos.compositor import libwayland  # LLM OS's own declarations (own() hands them out)

    wayland = FFI()
    wayland.cdef(libwayland.CDEF)
    wayland.set_source(libwayland.PREBUILT, None)

    written = []
    for builder in (cairo, pango, pangocairo, wayland):
        module = Path(builder.compile(tmpdir=str(target)))
        # compiled now: the image's root is read-only, so Python could not cache the bytecode itself
        py_compile.compile(str(module), doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        written.append(module)
    (target / LIBRARIES).write_text(json.dumps(find_libraries(), indent=1, sort_keys=True) + "\n")
    (target / STAMP).write_text(json.dumps(fingerprint(), indent=1, sort_keys=True) + "\n")
    return written


def find_libraries() -> dict[str, Any]:
    """What find_library answers now for the names the packages ask, as the packages would ask them
    (pangocffi tries NAME, then libNAME, for each name in turn)."""
    from ctypes.util import find_library

    locations = {}
    for variables in LOCATIONS.values():
        for variable, names in variables.items():
            found = (find_library(tried) for name in names for tried in (name, f"lib{name}"))
            if soname := next((path for path in found if path), None):
                locations[variable] = soname
    return {"cairo": {name: find_library(name) for name in CAIRO_NAMES}, "locations": locations}


def _package_dir(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ImportError(f"{package} is not installed")
    return Path(spec.origin).parent


def _load_source(name: str, package: str, filename: str) -> types.ModuleType:
    """One file of a package, run without running the package's __init__ (which would parse)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, _package_dir(package) / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PrebuiltFinder:
    """Answers the imports of the packages' ffi-building modules with a module holding the prebuilt ffi.
    The stamp is checked at the first such import, so a process that never draws pays one stat."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.usable: bool | None = None  # not checked yet
        self.libraries = NO_LIBRARIES  # read with the stamp, once per process

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in REPLACES:
            return None
        if self.usable is None:
            self.usable = matches(self.where)
            self.libraries = read_libraries(self.where) if self.usable else NO_LIBRARIES
        first = IMPORT_FIRST.get(fullname)
        # that package already has the parsed ffi: this one must include the same instance, so parse too
        first_parsed = first and f"{first}.ffi_build" in sys.modules and \
            REPLACES[f"{first}.ffi_build"] not in sys.modules
        if not self.usable or first_parsed:
            return None  # the package parses its declarations itself, as without this hook
        loader = cast("importlib.abc.Loader", PrebuiltLoader(self.where, REPLACES[fullname], self.libraries))
        return importlib.machinery.ModuleSpec(fullname, loader)


_MATCHED: dict[Path, bool] = {}  # matches(), once per directory and process (packages do not change)


def matches(where: Path) -> bool:
    """Whether the bindings in `where` were built from the installed packages' declarations."""
    if where not in _MATCHED:
        try:
            _MATCHED[where] = bool(json.loads((where / STAMP).read_text()) == fingerprint())
        except (OSError, ValueError, ImportError):
            _MATCHED[where] = False
    return _MATCHED[where]


class PrebuiltLoader:
    def __init__(self, where: Path, prebuilt: str, libraries: Libraries) -> None:
        self.where = where
        self.prebuilt = prebuilt
        self.libraries = libraries

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if first := IMPORT_FIRST.get(module.__name__):
            importlib.import_module(first)
        module.ffi = _prebuilt(self.where, self.prebuilt).ffi  # type: ignore[attr-defined]
        if module.__name__ == "cairocffi.ffi":
            setattr(module, "__getattr__", _cairo_extras)  # noqa: B010 -- a module-level __getattr__
            package = sys.modules.get("cairocffi")  # mid-import: it has imported find_library already
            if package is not None and callable(search := getattr(package, "find_library", None)) \
                    and self.libraries.cairo:
                setattr(package, "find_library", _known_libraries(self.libraries.cairo, search))  # noqa: B010
        for variable in LOCATIONS.get(module.__name__, {}):
            if soname := self.libraries.locations.get(variable):
                os.environ.setdefault(variable, soname)  # the package's own override; children share it


class Libraries(NamedTuple):
    """The build's find_library answers (libraries.json); empty where there are none, and then the
    packages search as they always did. A NamedTuple: every process imports this module, and a
    dataclass would import inspect into each, stage 1 included."""

    cairo: dict[str, str | None]
    locations: dict[str, str]


NO_LIBRARIES = Libraries({}, {})


def read_libraries(where: Path) -> Libraries:
    try:
        found = json.loads((where / LIBRARIES).read_text())
    except (OSError, ValueError):
        return NO_LIBRARIES
    cairo = found.get("cairo") if isinstance(found, dict) else None
    locations = found.get("locations") if isinstance(found, dict) else None
    return Libraries(
        {k: v for k, v in cairo.items() if isinstance(v, str | None)} if isinstance(cairo, dict) else {},
        {k: v for k, v in locations.items() if isinstance(v, str)} if isinstance(locations, dict) else {})


def _known_libraries(answers: dict[str, str | None], search: Callable[[str], str | None]
                     ) -> Callable[[str], str | None]:
    """find_library for cairocffi: the build's answer for a name it recorded, a search for any other.
    A recorded soname that fails to load costs nothing more: cairocffi then tries its own file names."""
    def find_library(name: str) -> str | None:
        return answers[name] if name in answers else search(name)
    return find_library


def _prebuilt(where: Path, name: str) -> types.ModuleType:
    """The generated module (pangocairo's imports pango's by its top-level name, so each is registered)."""
    if name in sys.modules:
        return sys.modules[name]
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, where / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def own(name: str) -> Any | None:
    """The ffi of one of LLM OS's own prebuilt modules (compositor/libwayland.py's), or None when the
    bindings are missing or were built from other declarations: the caller then parses its own."""
    where = directory()
    if not matches(where):
        return None
    try:
        return _prebuilt(where, name).ffi
    except (OSError, ImportError, AttributeError):
        return None


def _cairo_extras(name: str) -> object:
    """cairocffi.ffi's other bindings (GdkPixbuf's, XCB's) are not prebuilt: LLM OS uses neither."""
    raise AttributeError(f"cairocffi.ffi.{name} is not among LLM OS's prebuilt bindings "
                         f"({directory()}; llmos/prebuilt_ffi.py)")


def install(where: Path | None = None) -> bool:
    """Use the prebuilt bindings in `where` (default: the image's) if there are any; whether they match
    the installed packages is checked when one of them is first imported."""
    where = where or directory()
    if any(isinstance(finder, PrebuiltFinder) for finder in sys.meta_path):
        return True
    if not (where / STAMP).is_file():
        return False
    sys.meta_path.insert(0, PrebuiltFinder(where))
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: main([DIR]): write the prebuilt bindings into DIR", file=sys.stderr)
        return 2
    written = generate(Path(args[0]))
    print(f"cffi bindings prebuilt: {', '.join(path.name for path in written)} in {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
