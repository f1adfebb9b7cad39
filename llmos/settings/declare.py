"""How a setting is declared: its type (the annotation), default, one line of documentation and any
limits sit together in one dataclass field, the way mkosi declares its settings. A section of
llmos.toml is a frozen dataclass whose fields are made with `setting()`; so is one entry of a list of
tables ([[gateway.providers]]), a `Table`."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

METADATA_KEY = "llmos.setting"


@dataclass(frozen=True)
class Declared:
    """What a field's metadata says beyond its type and default."""

    doc: str
    choices: tuple[Any, ...] = ()
    minimum: int | float | None = None  # out of range is clamped (and reported)
    maximum: int | float | None = None
    required: bool = False  # an entry of a list of tables must give it (a section's settings never are)
    check: Callable[[Any], str | None] | None = None  # what is wrong with a well-typed value, or None


@dataclass(frozen=True)
class Kind:
    """The type a setting accepts, read from its annotation."""

    base: type  # bool, int, float, str, tuple (a list of `item`) or dict (a free-form table)
    item: type | None = None
    optional: bool = False  # `int | None`: unset (None) unless the file gives a value

    def words(self) -> str:
        if self.base is tuple:
            if isinstance(self.item, type) and issubclass(self.item, Table):
                return "a list of tables"
            return f"a list of {_NAMES[self.item or str]}s"
        return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                dict: "a table"}[self.base]


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclass(frozen=True)
class Declaration:
    """One setting as the checker and the docs see it."""

    name: str
    kind: Kind
    default: Any
    declared: Declared


def setting(default: Any, doc: str, *, choices: tuple[Any, ...] = (),
            minimum: int | float | None = None, maximum: int | float | None = None,
            required: bool = False, check: Callable[[Any], str | None] | None = None) -> Any:
    """A dataclass field for one setting. A dict default is a free-form table (copied per instance)."""
    metadata = {METADATA_KEY: Declared(doc, tuple(choices), minimum, maximum, required, check)}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _kind(hint: Any) -> Kind:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = [arg for arg in args if arg is not type(None)]
        return dataclasses.replace(_kind(inner), optional=True)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return Kind(tuple, args[0])
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return Kind(dict)
    if hint in (bool, int, float, str):
        return Kind(hint)
    raise TypeError(f"a setting cannot have the type {hint!r}")


def declarations(section: type[Section] | type[Table]) -> list[Declaration]:
    """The settings of a section (or table entry) class, in declaration order."""
    hints = typing.get_type_hints(section)
    found = []
    for field in dataclasses.fields(section):
        declared = field.metadata.get(METADATA_KEY)
        if declared is None:
            raise TypeError(f"{section.__name__}.{field.name} is not declared with setting()")
        factory = field.default_factory
        default = factory() if factory is not dataclasses.MISSING else field.default
        found.append(Declaration(field.name, _kind(hints[field.name]), default, declared))
    return found


def default_of(section: type[Section] | type[Table], name: str) -> Any:
    """One setting's declared default, for code that needs the value outside a loaded config."""
    return next(d.default for d in declarations(section) if d.name == name)


def declared(section: type[Section] | type[Table], name: str) -> Declared:
    return next(d.declared for d in declarations(section) if d.name == name)


@dataclass(frozen=True)
class Section:
    """Base of every [section] dataclass: its name in llmos.toml and how to load it."""

    NAME: ClassVar[str]

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> Self:
        """The section from llmos.toml (see llmos.config.load), then `overrides` (tests, CLI flags),
        which must be valid: a wrong override raises ValueError instead of being reported."""
        from llmos import config

        loaded = config.load().settings.section(cls.NAME)
        assert isinstance(loaded, cls)
        return loaded.with_values(overrides or {})

    def with_values(self, given: Mapping[str, Any]) -> Self:
        """A copy with `given` checked and applied; ValueError names every problem."""
        from llmos.settings.check import check_section

        problems: list[Any] = []
        current = {d.name: getattr(self, d.name) for d in declarations(type(self))}
        values = check_section(type(self), dict(given), current, self.NAME, problems)
        if problems:
            raise ValueError("; ".join(str(problem) for problem in problems))
        return dataclasses.replace(self, **{k: v for k, v in values.items() if k in current})


@dataclass(frozen=True)
class Table:
    """Base of one entry of a list of tables ([[gateway.providers]]). An entry with a value that cannot
    be used is left out as a whole and the others keep working: a provider has no sensible default URL."""

    ENTRY: ClassVar[str] = "entry"  # what a problem calls it: "this provider is disabled"
    KEY: ClassVar[str] = "name"  # the setting no two entries of one list may share

    def problems(self) -> list[tuple[str, str]]:
        """(setting, what is wrong) across the settings of one entry, which no one declaration sees."""
        return []
