"""The apps an app asks to call, named as people know them. The capability table's words for
app:APP/FUNCTION name the callee by its identity ("Use the function 'convert' of your app app-35b1…"),
which nobody recognises; the flow knows the installed apps, so the approval dialog says "… of your app
Unit Converter" instead. An identity no installed app has keeps the table's words and carries a warning,
in plain words: the calls will fail until such an app is installed (docs/composition.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from llmos.api import Ask


def callee_of(scope: str) -> str | None:
    """The identity an app:APP/FUNCTION scope names; None for other scopes."""
    kind, _, target = scope.partition(":")
    return target.partition("/")[0] if kind == "app" and "/" in target else None


def with_callee_names(asks: list[Ask], title_of: Callable[[str], str | None]) -> list[Ask]:
    """The asks, each app:APP/FUNCTION one naming its app by title (`title_of(identity)`, None when no
    installed app has that identity)."""
    named = []
    for ask in asks:
        identity = callee_of(ask.scope)
        if identity is None:
            named.append(ask)
            continue
        title = title_of(identity)
        if title is None:
            warning = f"No installed app is {identity}: calls to it will fail until it is installed"
            named.append(replace(ask, warning=ask.warning or warning))
        else:
            named.append(replace(ask, words=ask.words.replace(identity, title)))
    return named
