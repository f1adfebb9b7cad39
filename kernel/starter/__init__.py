"""The starter set: hand-written SDK apps with the prompts they answer, so the cached path of
`llmos app new` works offline from first boot (no model needed for these)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmos.kernel.registry import Registry

STARTER_MODEL = "llmos-starter"


def _code(name: str) -> str:
    return resources.files(__package__).joinpath("apps", f"{name}.ts").read_text(encoding="utf-8")


def provided_by(name: str, function: str) -> str:
    """The scope for calling `function` of the starter app `name`: app:<its identity>/<function>. A
    starter's identity is made from its code (kernel/versions), so the app that calls it names that
    identity in its code too; tests/kernel/starter checks the two agree."""
    from llmos.kernel.registry.record import code_hash
    from llmos.kernel.versions.lineage import identity_for

    return f"app:{identity_for(code_hash(_code(name)))}/{function}"


@dataclass(frozen=True)
class Starter:
    name: str
    prompt: str
    capabilities: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return _code(self.name)

    @property
    def manifest(self) -> dict[str, list[dict[str, str | bool]]]:
        return {"capabilities": [{"scope": s, "optional": s in self.optional} for s in self.capabilities]}


STARTERS: tuple[Starter, ...] = (
    Starter("pomodoro", "A pomodoro timer with break reminders",
            ("ui:window", "storage:local", "timer", "notify"), optional=("notify",)),
    Starter("todo", "A todo list where I can add, check off and delete tasks",
            ("ui:window", "storage:local")),
    Starter("notes", "A simple notes app to write, edit and delete short notes",
            ("ui:window", "storage:local")),
    Starter("counter", "A counter with plus, minus and reset buttons that remembers its value",
            ("ui:window", "storage:local")),
    Starter("converter", "A unit converter for lengths: metres, kilometres, feet, miles and inches",
            ("ui:window",)),
    Starter("dice", "A dice roller for d4 to d20 with several dice and a total", ("ui:window",)),
    Starter("stopwatch", "A stopwatch with start, stop, lap times and reset", ("ui:window", "timer")),
    Starter("checklist", "A checklist of things to take with me, with check and uncheck all",
            ("ui:window", "storage:local")),
    Starter("trip", "A trip log that adds up the kilometres of each leg and shows the total in miles too, "
            "using my unit converter", ("ui:window", "storage:local", provided_by("converter", "convert"))),
)


def seed(registry: Registry) -> list[str]:
    """Add every starter app that is not there yet, in one commit; returns their code hashes."""
    return registry.add_many([
        {"prompt": s.prompt, "generatedCode": s.code, "llmModel": STARTER_MODEL,
         "capabilities": list(s.capabilities), "optionalCapabilities": list(s.optional), "audited": True}
        for s in STARTERS
    ], message="Seed the starter apps")
