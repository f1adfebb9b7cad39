"""The example library: hand-written request -> document pairs, as data (examples/*.json).

They are the model's few-shot material and the language's own regression suite: a test validates,
compiles, analyses, launches and drives every one (examples/README.md describes the format).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

KEYS = frozenset({"request", "app", "steps", "expect", "note"})


class ExampleError(ValueError):
    """A malformed example file; the message names the file and the entry."""


@dataclass(frozen=True)
class Example:
    family: str  # the file's name without .json
    request: str
    app: dict[str, Any]  # the document: an app or {"unsupported": reason}
    steps: tuple[dict[str, Any], ...] = ()  # llmos.sdk.render.script steps
    expect: tuple[dict[str, Any], ...] = ()  # ... and expectations, checked after the steps
    where: str = ""

    @property
    def unsupported(self) -> bool:
        return "unsupported" in self.app

    def shot(self) -> tuple[str, dict[str, Any]]:
        """The (request, document) pair a prompt shows."""
        return self.request, self.app


def _read(family: str, text: str) -> list[Example]:
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExampleError(f"{family}.json: not JSON: {error}") from None
    if not isinstance(entries, list):
        raise ExampleError(f"{family}.json: must hold a list of examples")
    out = []
    for index, entry in enumerate(entries):
        where = f"{family}.json[{index}]"
        if not isinstance(entry, dict) or not {"request", "app"} <= set(entry) or set(entry) - KEYS:
            raise ExampleError(f"{where}: an example has 'request' and 'app', optionally 'steps', 'expect' "
                               f"and 'note', got {sorted(entry) if isinstance(entry, dict) else entry!r}")
        if not isinstance(entry["request"], str) or not isinstance(entry["app"], dict):
            raise ExampleError(f"{where}: 'request' is a string and 'app' an object")
        out.append(Example(family, entry["request"], entry["app"], tuple(entry.get("steps", ())),
                           tuple(entry.get("expect", ())), where))
    return out


def load_examples(folder: Traversable | None = None) -> list[Example]:
    """Every example, in file and then list order: the package's, or those in `folder` (the image build
    reads the copy it puts in the image)."""
    folder = folder or files("llmos.kernel.applang") / "examples"
    out: list[Example] = []
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if item.name.endswith(".json"):
            out.extend(_read(item.name.removesuffix(".json"), item.read_text(encoding="utf-8")))
    return out
