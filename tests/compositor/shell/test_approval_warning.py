"""The approval dialog says plainly when an app asks for a site the request never mentioned (issue 16,
item 8): the kernel's ask carries the warning, and the dialog paints it where the person reads."""

from __future__ import annotations

from llmos.compositor.shell.shell import Shell

from .test_flow_controller import ScriptedKernel, flow_event, run, until

WARNING = "Talk to evil.example — your request did not mention this site"
ASKS = [{"scope": "ui:window", "words": "Show a window on the screen", "required": True},
        {"scope": "network:evil.example", "words": "Talk to the website evil.example", "required": True,
         "warning": WARNING},
        {"scope": "network:api.weather.example", "words": "Talk to the website api.weather.example",
         "required": False}]


def test_the_warning_is_on_screen_next_to_its_ask() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        kernel.answers["flow.start"] = {"flow": "f1"}
        shell.actions.submit_prompt("a weather app")
        await until(lambda: shell.state.flow is not None and shell.state.flow.id == "f1", "the flow id")
        flow_event(shell, "f1", "needs-approval", asks=ASKS, title="Weather")
        await until(lambda: shell.describe()["panel"] == "flow:approval", "the approval dialog")
        shell.refresh()
        painted = shell.surfaces.texts()["panel"]
        joined = "\n".join(painted)
        assert any(WARNING in line for line in painted), joined
        evil = next(i for i, line in enumerate(painted) if "(network:evil.example" in line)
        assert WARNING in painted[evil + 1], "the warning follows its own ask"
        assert sum("did not mention" in line for line in painted) == 1, "only the unmentioned site"
    run(scenario)
