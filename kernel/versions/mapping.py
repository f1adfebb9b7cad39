"""A data migration, given as data (never code), and the plan it makes for one app's stored values.

    {"rename":  {"todos": "tasks"},
     "convert": {"tasks": {"fields": {"text": "title", "done": "completed"}},
                 "count": "number"}}

- `rename` maps an old key to a new key. Keys not named keep their name.
- `convert` names a *new* key and how its value changes: a type (`"number"`, `"string"`, `"boolean"`,
  `"list"`), or an object with `to` (one of those types) and/or `fields` (rename the fields of an object,
  or of every object in a list; fields not named are kept).

`plan()` applies a mapping to the stored values of one version for the shape of the next:
- a key the new shape reads, with a value of its type, is kept (renamed and converted as mapped);
- a key the new shape does not read, or reads as another type with no conversion given, is kept
  aside: not deleted, listed with a reason, and restored when the user goes back;
- a mapping that would lose data is refused whole, with the reason: two keys or fields becoming one,
  a value a conversion cannot carry ("abc" to a number).
A malformed mapping is refused by `Mapping.parse` with where it is wrong (`migration.rename.todos`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from llmos.kernel.sandbox.storage import MAX_KEY

from .shape import Shape, fits, value_type

CONVERSIONS = ("number", "string", "boolean", "list")
MAX_ENTRIES = 1000


class MigrationError(ValueError):
    """A migration was refused; nothing changed and the current version keeps its data."""


class MappingError(MigrationError):
    """The mapping is malformed; the message says where."""


class MigrationRefused(MigrationError):
    """The mapping is well formed, but applying it would lose data; the message says which."""


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_KEY:
        raise MappingError(f"{where}: expected a name of 1..{MAX_KEY} characters, got {_preview(value)}")
    return value


def _names(value: object, where: str) -> dict[str, str]:
    """An object of distinct old name -> new name."""
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected an object of old name -> new name")
    if len(value) > MAX_ENTRIES:
        raise MappingError(f"{where}: more than {MAX_ENTRIES} entries")
    seen: dict[str, str] = {}
    for old, new in value.items():
        target = _name(new, f"{where}.{_name(old, where)}")
        if target == old:
            raise MappingError(f"{where}.{old}: renames {old!r} to itself")
        if target in seen:
            raise MappingError(f"{where}.{old}: {old!r} and {seen[target]!r} both become {target!r}; "
                               "one would be lost")
        seen[target] = old
    return dict(value)


@dataclass(frozen=True)
class Conversion:
    to: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: object, where: str) -> Conversion:
        if isinstance(data, str):
            data = {"to": data}
        if not isinstance(data, dict) or not data:
            raise MappingError(f"{where}: expected a type ({', '.join(CONVERSIONS)}) or an object with "
                               "to and/or fields")
        unknown = sorted(set(data) - {"to", "fields"})
        if unknown:
            raise MappingError(f"{where}: unknown field {unknown[0]!r} (expected to, fields)")
        to = data.get("to")
        if to is not None and to not in CONVERSIONS:
            raise MappingError(f"{where}.to: {_preview(to)} is not one of {', '.join(CONVERSIONS)}")
        fields = _names(data["fields"], f"{where}.fields") if "fields" in data else {}
        return cls(to, fields)

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in (("to", self.to), ("fields", self.fields)) if v}

    def apply(self, value: object, where: str) -> object:
        if self.to is not None:
            value = _convert(value, self.to, where)
        if self.fields:
            value = _rename_fields(value, self.fields, where)
        return value


@dataclass(frozen=True)
class Mapping:
    rename: dict[str, str] = field(default_factory=dict)
    convert: dict[str, Conversion] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: object, where: str = "migration") -> Mapping:
        """The mapping, or MappingError saying where it is malformed. None is the empty mapping."""
        if data is None:
            return cls()
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as error:
                raise MappingError(f"{where}: not JSON ({error})") from None
        if not isinstance(data, dict):
            raise MappingError(f"{where}: expected an object with rename and/or convert")
        unknown = sorted(set(data) - {"rename", "convert"})
        if unknown:
            raise MappingError(f"{where}: unknown field {unknown[0]!r} (expected rename, convert)")
        rename = _names(data.get("rename", {}), f"{where}.rename")
        convert = data.get("convert", {})
        if not isinstance(convert, dict) or len(convert) > MAX_ENTRIES:
            raise MappingError(f"{where}.convert: expected an object of key -> conversion")
        return cls(rename, {_name(key, f"{where}.convert"): Conversion.parse(spec, f"{where}.convert.{key}")
                            for key, spec in convert.items()})

    def to_json(self) -> dict[str, object]:
        return {"rename": dict(self.rename), "convert": {k: c.to_json() for k, c in self.convert.items()}}

    def __bool__(self) -> bool:
        return bool(self.rename or self.convert)

    def check(self, shape: Shape, where: str = "migration") -> None:
        """Refuse a mapping that names keys the new version does not read, or converts a key to a type
        the new version does not read it as."""
        for old, new in self.rename.items():
            if shape.expects(new) is None:
                raise MappingError(f"{where}.rename.{old}: the new version does not store {new!r}")
        for key, conversion in self.convert.items():
            kind = shape.expects(key)
            if kind is None:
                raise MappingError(f"{where}.convert.{key}: the new version does not store {key!r}")
            if conversion.to is not None and kind not in ("any", conversion.to):
                raise MappingError(f"{where}.convert.{key}.to: the new version stores {key!r} as {kind}, "
                                   f"not {conversion.to}")


@dataclass
class MigrationPlan:
    """One version's stored values as the next version will read them."""
    data: dict[str, str] = field(default_factory=dict)              # key -> JSON text
    aside: dict[str, tuple[str, str]] = field(default_factory=dict)  # old key -> (JSON text, why)

    def notice(self) -> str:
        """What the user is told about the values kept aside ("" if none)."""
        if not self.aside:
            return ""
        names = ", ".join(sorted(self.aside))
        return (f"{len(self.aside)} stored value(s) the new version does not read were kept aside, not "
                f"deleted: {names}. Going back to the earlier version restores them.")


def plan(stored: dict[str, str], shape: Shape, mapping: Mapping) -> MigrationPlan:
    """Apply `mapping` to `stored` (key -> JSON text) for `shape`; MigrationRefused if data would be lost."""
    mapping.check(shape)
    result = MigrationPlan()
    came_from: dict[str, str] = {}
    for key in sorted(stored):
        raw = stored[key]
        target = mapping.rename.get(key, key)
        if target in came_from:
            raise MigrationRefused(f"migration.rename.{key if key in mapping.rename else came_from[target]}: "
                                   f"{key!r} and {came_from[target]!r} would both be stored as {target!r}; "
                                   "one would be lost")
        kind = shape.expects(target)
        if kind is None:
            result.aside[key] = (raw, f"the new version does not read {key!r}")
            continue
        try:
            value: object = json.loads(raw)
        except ValueError:
            result.aside[key] = (raw, f"{key!r} does not hold JSON")
            continue
        conversion = mapping.convert.get(target)
        if conversion is not None:
            value = conversion.apply(value, f"migration.convert.{target} (stored as {key!r})")
            if not fits(value, kind):
                raise MigrationRefused(f"migration.convert.{target}: gives a {value_type(value)}, but the "
                                       f"new version reads {target!r} as {kind}")
        elif not fits(value, kind):
            result.aside[key] = (raw, f"the new version reads {target!r} as {kind}; this is a "
                                      f"{value_type(value)} and no conversion was given")
            continue
        came_from[target] = key
        result.data[target] = raw if conversion is None else json.dumps(value, ensure_ascii=False)
    return result


def _preview(value: object) -> str:
    shown = json.dumps(value, ensure_ascii=False) if _jsonable(value) else repr(value)
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _convert(value: object, to: str, where: str) -> object:
    kind = value_type(value)
    if kind == to or value is None:
        return [] if value is None and to == "list" else value
    converted: object = None
    if to == "list":
        converted = [value]
    elif to == "string" and kind in ("number", "boolean"):
        converted = json.dumps(value)
    elif to == "number" and kind == "string":
        converted = _number(str(value))
    elif to == "number" and kind == "boolean":
        converted = int(bool(value))
    elif to == "boolean" and kind == "string" and value in ("true", "false"):
        converted = value == "true"
    elif to == "boolean" and kind == "number" and value in (0, 1):
        converted = bool(value)
    if converted is None:
        raise MigrationRefused(f"{where}: the {kind} {_preview(value)} cannot become a {to} without "
                               "losing it")
    return converted


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _rename_fields(value: object, fields: dict[str, str], where: str) -> object:
    if isinstance(value, list):
        return [_rename_fields(item, fields, f"{where}[{at}]") for at, item in enumerate(value)]
    if not isinstance(value, dict):
        raise MigrationRefused(f"{where}: fields are renamed in objects; this is a {value_type(value)}")
    renamed: dict[str, object] = {}
    came_from: dict[str, str] = {}
    for name, item in value.items():
        name = str(name)  # JSON object keys are strings
        target = fields.get(name, name)
        if target in came_from:
            raise MigrationRefused(f"{where}: fields {name!r} and {came_from[target]!r} would both become "
                                   f"{target!r}; one would be lost")
        came_from[target] = name
        renamed[target] = item
    return renamed
