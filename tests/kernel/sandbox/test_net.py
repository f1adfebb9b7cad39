"""net.fetch goes through the kernel (the app host has no network at all): granted hosts only,
every request audited. The server is a real HTTP server on a local socket."""

from __future__ import annotations

import asyncio

from .conftest import app_source


async def http_server():
    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        body = b"pong"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
                     b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()
    return await asyncio.start_server(answer, "127.0.0.1", 0)


def test_fetch_granted_host_only_and_audited(make_kernel):
    async def scenario():
        server = await http_server()
        port = server.sockets[0].getsockname()[1]
        async with make_kernel() as kernel:
            token = kernel.authority.mint("fetcher", ["ui:window", f"network:127.0.0.1:{port}"])
            app = await kernel.manager.launch(app_source("fetcher.ts"), token)

            async def shown_after(url: str) -> str:
                tree = (await app.tree())["tree"]  # handler ids change with every render
                await app.event(tree["children"][1]["props"]["onSubmit"]["$handler"], [url])
                for _ in range(500):  # the answer arrives asynchronously; wait for the tree to change
                    text = (await app.tree())["tree"]["children"][0]["children"][0]
                    if text != "idle" and text != last[0]:
                        last[0] = text
                        return text
                    await asyncio.sleep(0.01)
                raise AssertionError("no answer")
            last = ["idle"]
            assert await shown_after(f"http://127.0.0.1:{port}/ping") == "200 pong"
            denied = await shown_after(f"http://localhost:{port}/ping")
            assert "CapabilityError" in denied and f"network:localhost:{port}" in denied
            allowed = kernel.authority.audit.entries(app="fetcher", decision="allow")
            assert any(e.what == f"net.fetch GET http://127.0.0.1:{port}/ping" for e in allowed)
            assert any("network:localhost" in e.reason for e in kernel.denials("fetcher"))
        server.close()
    asyncio.run(asyncio.wait_for(scenario(), 60))
