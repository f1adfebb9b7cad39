"""Model providers in the shell: the settings panel lists them from gateway.providers with their health,
the one the user presses goes first (gateway.default on Save), a kernel without the call leaves the form
usable; and while a flow falls back to the next model, the located failure is shown."""

from __future__ import annotations

from typing import Any

from llmos import ipc
from llmos.compositor.shell import views
from llmos.compositor.shell.shell import Shell

from .test_flow_controller import ScriptedKernel, flow_event, run, until

PROVIDERS = {"providers": [
    {"name": "local", "kind": "embedded", "tier": "spec", "model": "gemma-3-270m-q4_k_m.gguf", "url": "",
     "default": True, "reachable": True, "model_present": True, "last_error": "", "detail": ""},
    {"name": "office", "kind": "openai", "tier": "code", "model": "qwen2.5-coder:7b",
     "url": "http://10.0.0.5:11434/v1", "default": False, "reachable": False, "model_present": None,
     "last_error": "2026-12-01 10:00 UTC: office: cannot reach http://10.0.0.5:11434/v1", "detail": ""}],
    "problems": []}
SETTINGS = {"gateway": {"local_model": "", "anthropic_api_key": ""}, "kiosk": {"app": ""},
            "input": {"layout": "us"}}


def walk(tree: dict[str, Any]) -> list[dict[str, Any]]:
    found = [tree]
    for child in tree.get("children", []):
        if isinstance(child, dict):
            found += walk(child)
    return found


def texts(tree: dict[str, Any]) -> list[str]:
    return [str(child) for node in walk(tree) if node["type"] == "Text" for child in node["children"]]


def panel(shell: Shell) -> dict[str, Any]:
    return views.settings(shell.state, shell.actions, views.Handlers(), (1280, 800))


def test_providers_are_listed_with_health_and_the_pick_is_saved() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        kernel.answers.update({"settings.get": SETTINGS, "gateway.providers": PROVIDERS,
                               "gateway.default": PROVIDERS})
        shell.actions.open_settings()
        await until(lambda: len(shell.state.settings.providers) == 2, "the providers")
        assert kernel.methods() == ["settings.get", "gateway.providers"]
        tree = panel(shell)
        labels = [n["children"][0] for n in walk(tree) if n["type"] == "Button"]
        assert "● local" in labels and "office" in labels
        shown = texts(tree)
        assert any("openai · code · qwen2.5-coder:7b · unreachable" in line for line in shown)
        assert any(line.startswith("Last error: 2026-12-01 10:00 UTC: office: cannot") for line in shown)

        shell.actions.settings_field("default_provider", "office")
        assert "● office" in [n["children"][0] for n in walk(panel(shell)) if n["type"] == "Button"]
        shell.actions.save_settings()
        await until(lambda: "gateway.default" in kernel.methods(), "gateway.default")
        assert kernel.calls[-1] == ("gateway.default", {"name": "office"})
        assert "settings.set" not in kernel.methods(), "nothing else changed"

        shell.actions.settings_field("default_provider", "local")
        shell.actions.save_settings()
        await until(lambda: kernel.methods().count("gateway.default") == 2, "back to the embedded model")
        assert kernel.calls[-1] == ("gateway.default", {"name": ""})

    run(scenario)


class OldKernel(ScriptedKernel):
    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> Any:
        if method == "gateway.providers":
            self.calls.append((method, params))
            raise ipc.RpcError(ipc.ErrorCode.NO_SUCH_METHOD, "no such method")
        return await super().call(method, timeout, **params)


def test_a_kernel_without_providers_leaves_the_form_usable() -> None:
    async def scenario(shell: Shell, _kernel: ScriptedKernel) -> None:
        kernel = OldKernel()
        kernel.answers["settings.get"] = SETTINGS
        shell.link = kernel  # type: ignore[assignment]
        shell.actions.open_settings()
        await until(lambda: "gateway.providers" in kernel.methods(), "the providers call")
        assert shell.state.settings.loaded and shell.state.settings.providers == []
        assert not any("Model providers" in line for line in texts(panel(shell)))

    run(scenario)


def test_a_fallback_shows_the_located_failure_while_the_next_model_answers() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        kernel.answers["flow.start"] = {"flow": "f1"}
        shell.actions.submit_prompt("a tea timer")
        await until(lambda: shell.state.flow is not None and shell.state.flow.id == "f1", "the flow id")
        detail = "office: cannot reach http://10.0.0.5:8080/v1 (refused); trying local instead"
        flow_event(shell, "f1", "generating", phase="fallback", fraction=0.1, tokens=0, detail=detail)
        flow_event(shell, "f1", "generating", phase="generating", fraction=0.4, tokens=12, detail="")
        tree = views.panel(shell.state, shell.actions, views.Handlers(), (1280, 800))
        assert tree is not None and detail in texts(tree)

    run(scenario)
