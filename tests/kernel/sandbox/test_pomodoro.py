"""The seed document's pomodoro example runs unmodified in a real app host process."""

from __future__ import annotations

import asyncio

from .conftest import app_source

POMODORO_SCOPES = ["storage:local", "timer", "notify", "ui:window"]


def find(tree, type_):
    if isinstance(tree, dict):
        if tree["type"] == type_:
            return tree
        for child in tree["children"]:
            found = find(child, type_)
            if found:
                return found
    return None


def test_pomodoro_renders_and_click_toggles(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("pomodoro", POMODORO_SCOPES)
            app = await kernel.manager.launch(app_source("pomodoro.ts"), token, test_clock=True)
            tree = (await app.tree())["tree"]
            assert tree["type"] == "Window" and tree["props"]["title"] == "Pomodoro Timer"
            assert [c["type"] for c in tree["children"]] == ["Text", "Button", "Slider"]
            assert find(tree, "Text")["children"] == ["25:00"]
            button = find(tree, "Button")
            assert button["children"] == ["Start"]
            slider = find(tree, "Slider")
            assert slider["props"]["value"] == 25 and slider["props"]["min"] == 1

            after = await app.event(button["props"]["onClick"]["$handler"])
            assert find(after["tree"], "Button")["children"] == ["Pause"]
            assert after["generation"] == 2

            # The host clock drives the countdown; a test clock makes a minute pass at once.
            ticked = await app.call("advance", ms=61_000)
            assert find(ticked["tree"], "Text")["children"] == ["23:59"]

            # Slider -> storage.useLocal setter, persisted by the kernel under the app's own id.
            moved = await app.event(find(ticked["tree"], "Slider")["props"]["onChange"]["$handler"], [1])
            assert find(moved["tree"], "Slider")["props"]["value"] == 1
            assert kernel.broker.storage.get("pomodoro", "minutes") == "1"

            # The interval fires ui.notify through the kernel when the (now 1 minute) period ends.
            await app.call("advance", ms=60_000)
            assert ("pomodoro", "Break time!", {"sound": True}) in kernel.broker.notifications

            status = await app.status()
            assert status["state"] == "running" and status["scopes"] == sorted(POMODORO_SCOPES)
            assert await app.stop() == 0
    asyncio.run(asyncio.wait_for(scenario(), 60))
