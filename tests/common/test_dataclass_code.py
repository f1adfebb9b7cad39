"""llmos/dataclass_code.py: classes made with the build's record of compiled methods are the classes
dataclasses makes by itself, a bad record is ignored, and a process without dataclasses keeps it so.

Each case runs in a fresh interpreter: the hook patches the dataclasses module of its process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = '''
import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@dataclass(order=True)
class Ranked:
    rank: float
    name: str = field(default="", compare=False)
    items: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    verbose: bool = False
    level: "int" = 1
'''

# What the classes are: every generated method's code and annotations, and how instances behave.
DUMP = '''
import dataclasses, json, sys
import llmos
import sample_future, sample_plain

out = {}
for module in (sample_future, sample_plain):
    for name in ("Point", "Ranked", "Options"):
        cls = getattr(module, name)
        for method, function in sorted(vars(cls).items()):
            code = getattr(function, "__code__", None)
            if code is not None and code.co_filename == "<string>":  # generated from text
                out[f"{module.__name__}.{name}.{method}"] = [
                    code.co_code.hex(), repr(code.co_consts), code.co_names, code.co_varnames,
                    code.co_flags, code.co_filename, repr(function.__annotations__)]
    point = module.Point(1, tags=("a",))
    try:
        point.x = 2
        frozen = False
    except dataclasses.FrozenInstanceError:
        frozen = True
    out[f"{module.__name__}.behaviour"] = [
        repr(point), point == module.Point(1, 0, ("a",)), hash(point) == hash(module.Point(1, 0, ("a",))),
        frozen, module.Ranked(1.0, "b") < module.Ranked(2.0, "a"),
        module.Ranked(1.0, "x") == module.Ranked(1.0, "y"), repr(module.Options(level=3))]
hook = dataclasses.__dict__.get("exec")
out["hook"] = type(hook).__name__
out["compiled at run time"] = sum(len(texts) for texts in getattr(hook, "compiled", {}).values())
print(json.dumps(out))
'''

RECORD = '''
import sys
from pathlib import Path
from llmos import dataclass_code
code, failed = dataclass_code.record(lambda: ["sample_future", "sample_plain", "no_such_module"])
dataclass_code.write(code, Path(sys.argv[1]))
print("\\n".join(failed))
'''


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    (tmp_path / "sample_plain.py").write_text(SAMPLE)
    (tmp_path / "sample_future.py").write_text("from __future__ import annotations\n" + SAMPLE)
    return tmp_path


def _python(script: str, samples: Path, record: Path | None, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(samples), os.environ.get("PYTHONPATH", "")]),
           "LLMOS_DATACLASS_CODE": str(record or samples / "no-record")}
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=samples)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _recorded(samples: Path) -> tuple[Path, str]:
    record = samples / "record" / "code.marshal"
    failed = _python(RECORD, samples, None, str(record))
    return record, failed


def test_classes_from_the_record_are_the_classes_dataclasses_compiles(samples: Path) -> None:
    record, failed = _recorded(samples)
    assert "no_such_module: ModuleNotFoundError" in failed  # reported, and the rest still recorded
    plain = json.loads(_python(DUMP, samples, None))
    recorded = json.loads(_python(DUMP, samples, record))
    assert plain.pop("hook") == "NoneType"  # no record: dataclasses keeps the builtin exec
    assert recorded.pop("hook") == "CompiledExec"
    # every method of both modules came from the record: nothing was compiled at run time
    assert recorded.pop("compiled at run time") == 0
    plain.pop("compiled at run time")
    assert recorded == plain
    # the future import changes the annotations: the record did not give one module's code to the other
    assert recorded["sample_future.Point.__init__"][-1] != recorded["sample_plain.Point.__init__"][-1]
    assert recorded["sample_future.behaviour"] == [
        "Point(x=1, y=0, tags=('a',))", True, True, True, True, True, "Options(verbose=False, level=3)"]


def test_a_class_the_record_lacks_is_compiled_as_before(samples: Path) -> None:
    record, _ = _recorded(samples)
    (samples / "sample_plain.py").write_text(SAMPLE.replace("y: int = 0", "y: int = 5\n    z: int = 0"))
    plain = json.loads(_python(DUMP, samples, None))
    recorded = json.loads(_python(DUMP, samples, record))
    assert recorded["compiled at run time"] > 0  # a new field: Point's __init__ and friends changed
    assert recorded["sample_plain.behaviour"][0] == "Point(x=1, y=5, z=0, tags=('a',))"
    for key in ("hook", "compiled at run time"):
        plain.pop(key), recorded.pop(key)
    assert recorded == plain


@pytest.mark.parametrize("damage", ["another interpreter", "truncated", "not a record"])
def test_a_bad_record_is_ignored(samples: Path, damage: str) -> None:
    record, _ = _recorded(samples)
    data = record.read_bytes()
    record.write_bytes({"another interpreter": b"\0\0\r\n" + data[4:], "truncated": data[: len(data) // 2],
                        "not a record": data[:4] + b"\xe9" + b"\0" * 4}[damage])
    plain = json.loads(_python(DUMP, samples, None))
    recorded = json.loads(_python(DUMP, samples, record))
    assert recorded["compiled at run time"] > 0  # nothing came from the bad record
    for key in ("hook", "compiled at run time"):
        plain.pop(key), recorded.pop(key)
    assert recorded == plain


def test_importing_llmos_does_not_import_dataclasses(samples: Path) -> None:
    """Stage 1 imports llmos and no dataclass: the hook waits for the module instead of importing it."""
    record, _ = _recorded(samples)
    script = "import sys, llmos; print('dataclasses' in sys.modules)"
    assert _python(script, samples, record).strip() == "False"
    script = "import llmos, dataclasses; print(type(dataclasses.exec).__name__)"
    assert _python(script, samples, record).strip() == "CompiledExec"


def test_the_record_of_llmos_covers_its_modules(tmp_path: Path) -> None:
    """The build's own call, on the code laid out as in the image: every LLM OS module imported and its
    classes' code written."""
    from llmos import dataclass_code
    from llmos.host import image

    code = image.code_tree(tmp_path / "trees", lambda line: None) / "usr/lib/llmos/python"
    record = tmp_path / "code.marshal"
    done = subprocess.run([sys.executable, "-c", "import sys; from llmos.dataclass_code import main; "
                           "sys.exit(main(sys.argv[1:]))", str(record)], capture_output=True, text=True,
                          timeout=300, cwd=code, env={**os.environ, "PYTHONPATH": str(code)})
    assert done.returncode == 0, done.stderr
    modules = dataclass_code.read(record)
    assert {"llmos.api", "llmos.settings.sections", "llmos.init.services", "llmos.compositor.scene",
            "llmos.kernel.caps.authority"} <= set(modules), sorted(modules)
    assert f"of {len(modules)} modules in {record}" in done.stdout
