"""Installed apps that provide functions to other apps, found for a request: "a budget app that uses my
currency converter" finds the converter and what it provides, so a generator can write the one call, and
ask for the one capability, it needs (docs/composition.md).

Every trusted app in the registry whose code provides functions (kernel/analysis/provides.py) is a
candidate; each is scored against the request by the registry's own similarity (similarity.py) over its
prompt and its functions' names and descriptions. An untrusted app is never listed: it could not be
started for a call without the user's extra confirmation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmos.kernel.analysis.provides import Provided, provided_functions

from .record import RecordError
from .similarity import score

if TYPE_CHECKING:
    from . import Registry


@dataclass(frozen=True)
class ProvidingApp:
    """An installed app and the functions it provides, as a generator is shown it."""

    identity: str
    code_hash: str
    prompt: str
    functions: tuple[Provided, ...]
    score: float

    def scope(self, function: str) -> str:
        """The capability a caller of `function` asks for."""
        return f"app:{self.identity}/{function}"

    def lines(self) -> list[str]:
        """One line per function: the target to call, and what it does."""
        return [f"{self.identity}/{f.name}: {f.about or 'no description'} (from the app: {self.prompt[:120]})"
                for f in self.functions]


def providing_apps(registry: Registry, request: str, identity: Callable[[str], str], *,
                   limit: int = 5) -> list[ProvidingApp]:
    """The trusted apps that provide functions, best match for `request` first (the ones sharing no word
    with it left out); one entry per identity. `identity` maps a code hash to its app's identity
    (kernel.versions.Versions.identity)."""
    found: dict[str, ProvidingApp] = {}
    candidates = [r for r in registry.records() if ".provide(" in r.generatedCode]
    doubtful = set(registry.untrusted({r.codeHash: r.signedBy for r in candidates}))
    for record in candidates:
        if record.codeHash in doubtful:
            continue
        try:  # what a model is shown of an app comes only from a record that is what it says it is
            registry.verify(record, allow_untrusted=True)
        except RecordError:
            continue
        functions = provided_functions(record.generatedCode)
        if not functions:
            continue
        described = " ".join([record.prompt, *(f"{f.name} {f.about}" for f in functions)])
        match = score(request, described)
        if match <= 0:
            continue
        app = ProvidingApp(identity(record.codeHash), record.codeHash, record.prompt, functions, match)
        if app.identity not in found or found[app.identity].score < match:
            found[app.identity] = app
    return sorted(found.values(), key=lambda a: (-a.score, a.identity))[:limit]
