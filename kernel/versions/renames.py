"""The question a regeneration asks the model when the new version stores its data under other keys:
which new key holds what each old key held. The answer is a migration mapping (mapping.py): data,
never code.

Only the keys and their types go into the prompt, never the stored values, so no user data leaves the
machine whichever model answers. Each old key may only be mapped to a new key of a type it fits (or
to "none"), which a grammar enforces, so a small model can only choose among moves that keep the
value. A new key chosen for two old keys is left unmapped: both values are kept aside rather than one
lost. Whatever is not mapped is kept aside by the migration and the user is told (docs/versions.md).
"""

from __future__ import annotations

import json
from typing import Any

from .shape import Shape

NONE = "none"
MAX_TOKENS = 120
MAX_KEYS = 24  # old keys asked about; an app with more is migrated by name only

HEADER = (
    "A new version of an app stores its data under other keys. For each old key, name the new key "
    'that holds the same data, or "none".\n\n'
    "Old keys: todos (list), dark (boolean)\nNew keys: tasks (list), theme (string)\n"
    'Mapping: {"todos":"tasks","dark":"none"}\n\n'
    "Old keys: count (number), log (list)\nNew keys: total (number), history (list), step (number)\n"
    'Mapping: {"count":"total","log":"history"}\n\n'
)


def _fits(old: str, new: str) -> bool:
    return old == new or "any" in (old, new)


def choices(old: Shape, new: Shape) -> dict[str, list[str]]:
    """Each old key the new version does not read -> the new keys (not in the old shape) that could
    hold its value; only old keys with at least one such key. Empty: nothing to ask."""
    gone = [key for key in old.keys if key not in new.keys][:MAX_KEYS]
    fresh = [key for key in new.keys if key not in old.keys]
    asked = {key: [target for target in fresh if _fits(old.keys[key], new.keys[target])] for key in gone}
    return {key: targets for key, targets in asked.items() if targets}


def _listed(shape: Shape, keys: list[str]) -> str:
    return ", ".join(f"{key} ({shape.keys[key]})" for key in keys)


def prompt(asked: dict[str, list[str]], old: Shape, new: Shape) -> str:
    """The few-shot prompt: the old keys asked about and every new key the new version adds."""
    fresh = [key for key in new.keys if key not in old.keys]
    return f"{HEADER}Old keys: {_listed(old, list(asked))}\nNew keys: {_listed(new, fresh)}\nMapping: "


def schema(asked: dict[str, list[str]]) -> dict[str, Any]:
    """The answer's JSON schema: each old key, required, one of its fitting new keys or "none"."""
    return {"type": "object", "additionalProperties": False, "required": sorted(asked),
            "properties": {key: {"enum": [*targets, NONE]} for key, targets in sorted(asked.items())}}


def mapping_from(answer: str, asked: dict[str, list[str]]) -> dict[str, Any]:
    """The migration mapping the answer gives (`{"rename": {old: new}}`, possibly empty). Anything
    outside the choices is ignored; a new key chosen twice is left unmapped."""
    try:
        chosen = json.loads(answer)
    except json.JSONDecodeError:
        return {}
    if not isinstance(chosen, dict):
        return {}
    picks = {old: new for old, new in chosen.items()
             if old in asked and isinstance(new, str) and new in asked[old]}
    targets = list(picks.values())
    rename = {old: new for old, new in picks.items() if targets.count(new) == 1}
    return {"rename": rename} if rename else {}
