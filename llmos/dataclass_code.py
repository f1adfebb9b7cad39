"""The methods dataclasses generate, compiled at image build time instead of in every process.

    python3 -c "import sys; from llmos.dataclass_code import main; sys.exit(main(sys.argv[1:]))" FILE
    (imports every LLM OS module and writes what their dataclasses compiled into FILE; host/image.py
    runs it for the image)

Why: `@dataclass` writes the source of `__init__`, `__eq__`, `__hash__`, `__setattr__` and the rest as
text and compiles it with `exec` whenever a class is defined, so every process compiled the same few
hundred functions again at import. With the record the kernel's imports take 0.90x and the
compositor's 0.92x on the host (bench/service_imports.py); at boot under TCG the shell came 0.17 s
sooner and apps ready 0.6 s (docs/PERFORMANCE.md).

The record maps each source text to its code object, as `compile(text, "<string>", "exec")` makes
it: what `exec` itself would compile. `install()` gives the dataclasses module an `exec` that takes
the code from the record and compiles only texts it lacks, so a class the record does not know is
made exactly as before. The record holds the interpreter's bytecode magic number and is not used by
any other interpreter.
"""

from __future__ import annotations

import importlib
import marshal
import os
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import importlib.abc  # costs an import at run time, so only for the type

# Every process imports this module (llmos/__init__.py), so it imports little at its top:
# importlib.util only where a record is read or written, or the dataclasses module found.

IMAGE_FILE = Path("/usr/lib/llmos/dataclasses/code.marshal")
FILENAME = "<string>"  # what exec() names code it compiles from a string


def record_path() -> Path:
    return Path(os.environ.get("LLMOS_DATACLASS_CODE", IMAGE_FILE))


class CompiledExec:
    """`exec` for the dataclasses module: code from the record where it has the text, else compiled.
    The record is kept per module (the module that defines the class), so a process reads only the
    code of the modules it imports."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.modules: dict[str, bytes] | None = None  # read at the first class, once
        self.code: dict[str, dict[str, types.CodeType]] = {}  # each module's, read at its first class
        self.compiled: dict[str, dict[str, types.CodeType]] = {}  # what the record lacked, by module

    def __call__(self, source: Any, globals: dict[str, Any] | None = None,
                 locals: Mapping[str, object] | None = None) -> None:
        if isinstance(source, str):
            source = self.lookup(str((globals or {}).get("__name__", "")), source)
        exec(source, globals, locals)  # the code dataclasses asked for, run as it asked

    def lookup(self, module: str, text: str) -> types.CodeType:
        if self.modules is None:
            self.modules = read(self.where)
        known = self.code.get(module)
        if known is None:
            known = self.code[module] = _unmarshal(self.modules.get(module, b""))
        code = known.get(text)
        if code is None:
            # dont_inherit: this module's `from __future__ import annotations` must not apply
            code = compile(text, FILENAME, "exec", dont_inherit=True)
            self.compiled.setdefault(module, {})[text] = code
        return code


def read(where: Path) -> dict[str, bytes]:
    """The record: each module's marshalled code, or nothing when the file is missing, damaged or
    from another interpreter."""
    import importlib.util

    try:
        data = where.read_bytes()
    except OSError:
        return {}
    magic = importlib.util.MAGIC_NUMBER
    return _loads(data[len(magic):], bytes) if data.startswith(magic) else {}


def _unmarshal(blob: bytes) -> dict[str, types.CodeType]:
    return _loads(blob, types.CodeType)


def _loads(blob: bytes, kind: type[Any]) -> dict[str, Any]:
    """A marshalled dict from str to `kind`: empty when damaged, other entries left out."""
    try:
        loaded = marshal.loads(blob) if blob else {}
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {key: value for key, value in loaded.items() if isinstance(key, str) and isinstance(value, kind)}


def write(code: Mapping[str, Mapping[str, types.CodeType]], where: Path) -> None:
    """The record, written atomically (temporary file, then rename)."""
    import importlib.util

    from llmos import atomicfile

    blobs = {module: marshal.dumps(dict(sorted(texts.items()))) for module, texts in sorted(code.items())}
    atomicfile.write_bytes(where, importlib.util.MAGIC_NUMBER + marshal.dumps(blobs), mode=0o644)


def _patch(module: types.ModuleType, where: Path) -> None:
    if not isinstance(getattr(module, "exec", None), CompiledExec):
        module.exec = CompiledExec(where)  # type: ignore[attr-defined]  # shadows the builtin there


class _DataclassesFinder:
    """Patches the dataclasses module right after it is imported, so a process that never defines a
    dataclass does not import it (stage 1 does not: it would pull in `inspect`)."""

    def __init__(self, where: Path) -> None:
        self.where = where

    def find_spec(self, fullname: str, path: object, target: object = None) -> Any:
        if fullname != "dataclasses":
            return None
        import importlib.util

        sys.meta_path.remove(self)  # once: the spec comes from the finders after this one
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = cast("importlib.abc.Loader",
                           _PatchingLoader(spec.loader, lambda module: _patch(module, self.where)))
        return spec


class _PatchingLoader:
    def __init__(self, loader: Any, then: Callable[[types.ModuleType], None]) -> None:
        self.loader = loader
        self.then = then

    def create_module(self, spec: Any) -> types.ModuleType | None:
        created: types.ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        self.then(module)


def install(where: Path | None = None) -> bool:
    """Use the record at `where` (default: the image's) for every dataclass defined from now on."""
    where = where or record_path()
    if not where.is_file():
        return False
    if (module := sys.modules.get("dataclasses")) is not None:
        _patch(module, where)
    elif not any(isinstance(finder, _DataclassesFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _DataclassesFinder(where))
    return True


def record(modules: Callable[[], list[str]] | None = None
           ) -> tuple[dict[str, dict[str, types.CodeType]], list[str]]:
    """Import `modules()` (default: every LLM OS module) with a recording `exec` in the dataclasses
    module: the code their classes compiled, and the modules that could not be imported here (why)."""
    import dataclasses

    recorder = CompiledExec(Path(os.devnull))
    dataclasses.exec = recorder  # type: ignore[attr-defined]  # before the walk imports packages
    failed = []
    for name in (modules or llmos_modules)():
        try:
            importlib.import_module(name)
        except Exception as error:  # a module this machine cannot import is reported, not fatal
            failed.append(f"{name}: {type(error).__name__}: {error}")
    return recorder.compiled, failed


def llmos_modules() -> list[str]:
    """Every module of the llmos package, entry points (`__main__`) aside."""
    import pkgutil

    import llmos

    return sorted(info.name for info in pkgutil.walk_packages(llmos.__path__, "llmos.")
                  if not info.name.endswith(".__main__"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: main([FILE]): write the dataclasses' compiled code into FILE", file=sys.stderr)
        return 2
    code, failed = record()
    write(code, Path(args[0]))
    for problem in failed:
        print(f"dataclass code: not imported, compiled at run time instead: {problem}", file=sys.stderr)
    functions = sum(len(texts) for texts in code.values())
    print(f"dataclass code: {functions} functions of {len(code)} modules in {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
