"""DNS rebinding (issue 16): net.fetch checks the address it connects to, not only the granted name.

A granted name that resolves to this machine, the local network or a metadata service is refused and
audited; the name is resolved once and the request goes to the address that was checked. The real
resolver is used where it can answer (localhost, from /etc/hosts); names that must resolve to chosen
addresses go through the broker's resolver seam. The HTTP server is real, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from llmos.kernel.caps import Denied, open_authority
from llmos.kernel.sandbox.broker import Broker, FetchFailed
from llmos.kernel.sandbox.netcheck import blocked, literal, system_resolver
from llmos.kernel.sandbox.storage import AppStorage


class Server:
    """A real HTTP server on 127.0.0.1 that counts its connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret")
            await writer.drain()
            writer.close()
        self.server = await asyncio.start_server(answer, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def make_broker(root: Path, answers: dict[str, list[str]] | None = None,
                http: httpx.AsyncClient | None = None) -> tuple[Broker, list[str]]:
    """A broker whose resolver answers from `answers` (like an /etc/hosts entry), else the real one."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if answers is not None and host in answers:
            return answers[host]
        return await system_resolver(host, port)
    authority = open_authority(root / "state")
    return Broker(authority, AppStorage(root / "state" / "apps"), http=http, resolve=resolve), asked


def denials(broker: Broker, app: str) -> list[str]:
    return [e.reason for e in broker.authority.audit.entries(app=app, decision="deny")]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.5", "169.254.169.254",
                                     "::1", "fd00:ec2::254", "fe80::1", "100.100.100.200", "0.0.0.0",
                                     "::ffff:127.0.0.1"])
def test_a_granted_name_that_resolves_to_a_local_address_is_refused_and_nothing_connects(
        tmp_path: Path, address: str) -> None:
    async def scenario() -> None:
        server = Server()
        port = await server.start()
        broker, asked = make_broker(tmp_path, {"rebind.example": [address]})
        token = broker.authority.mint("rebinder", [f"network:rebind.example:{port}"])
        with pytest.raises(Denied) as refused:
            await broker.net_fetch(token, f"http://rebind.example:{port}/")
        assert refused.value.code == "address" and address.split("%")[0] in refused.value.message
        assert server.connections == 0
        assert asked == ["rebind.example"]
        assert any(reason.startswith("address: rebind.example resolves to") for reason in
                   denials(broker, "rebinder"))
        server.close()
    asyncio.run(scenario())


def test_an_answer_that_mixes_a_public_and_a_local_address_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        broker, _ = make_broker(tmp_path, {"mixed.example": ["93.184.216.34", "127.0.0.1"]})
        token = broker.authority.mint("mixed", ["network:mixed.example"])
        with pytest.raises(Denied, match=r"127\.0\.0\.1"):
            await broker.net_fetch(token, "http://mixed.example/")
    asyncio.run(scenario())


def test_the_real_resolver_localhost_is_refused_even_when_its_name_was_granted(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = Server()
        port = await server.start()
        broker, asked = make_broker(tmp_path)  # the C library's resolver, /etc/hosts
        token = broker.authority.mint("local", [f"network:localhost:{port}"])
        with pytest.raises(Denied, match="this machine"):
            await broker.net_fetch(token, f"http://localhost:{port}/")
        assert asked == ["localhost"] and server.connections == 0
        server.close()
    asyncio.run(scenario())


def test_a_grant_that_names_a_local_address_literally_still_reaches_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = Server()
        port = await server.start()
        broker, asked = make_broker(tmp_path)
        token = broker.authority.mint("literal", [f"network:127.0.0.1:{port}"])
        answer = await broker.net_fetch(token, f"http://127.0.0.1:{port}/")
        assert answer["status"] == 200 and answer["body"] == "secret"
        assert asked == [] and server.connections == 1  # a literal address needs no resolving
        server.close()
    asyncio.run(scenario())


@pytest.mark.parametrize("url", ["http://[::1]:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
                                 "http://2130706433:{port}/", "http://0x7f.0.0.1:{port}/"])
def test_the_wildcard_grant_never_reaches_a_local_literal_address(tmp_path: Path, url: str) -> None:
    async def scenario() -> None:
        server = Server()
        port = await server.start()
        broker, _ = make_broker(tmp_path)
        token = broker.authority.mint("wild", ["network:*"])
        with pytest.raises(Denied):
            await broker.net_fetch(token, url.format(port=port))
        assert server.connections == 0
        server.close()
    asyncio.run(scenario())


def test_the_name_is_resolved_once_and_the_request_goes_to_the_checked_address(tmp_path: Path) -> None:
    """A rebinding server answers a public address to the check and 127.0.0.1 to a second lookup: the
    second lookup never happens. The transport records where the request went."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    async def scenario() -> None:
        answers = iter([["93.184.216.34"], ["127.0.0.1"]])
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        broker, asked = make_broker(tmp_path, http=client)

        async def flipping(host: str, port: int) -> list[str]:
            asked.append(host)
            return next(answers)
        broker.resolve = flipping
        token = broker.authority.mint("flip", ["network:flip.example"])
        answer = await broker.net_fetch(token, "https://flip.example/data?x=1", headers={"Host": "evil"})
        assert answer["status"] == 200
        await client.aclose()
        assert asked == ["flip.example"]
        request = seen[0]
        assert request.url.host == "93.184.216.34" and request.url.path == "/data"
        assert request.headers["host"] == "flip.example"
        assert request.extensions["sni_hostname"] == "flip.example"
        allowed = broker.authority.audit.entries(app="flip", decision="allow")
        assert any("at 93.184.216.34" in e.reason for e in allowed)
    asyncio.run(scenario())


def test_address_words() -> None:
    assert blocked("8.8.8.8") is None and blocked("2606:4700:4700::1111") is None
    assert blocked("169.254.169.254") == "a cloud metadata service"
    assert blocked("127.0.0.1") == blocked("::1") == "this machine"
    assert blocked("10.0.0.1") == "a private network address"
    assert blocked("fe80::1") == "a link-local address"
    assert str(literal("127.1")) == "127.0.0.1" and str(literal("[::1]")) == "::1"
    assert literal("example.com") is None and literal("1.example") is None


def test_a_request_that_fails_on_the_way_names_the_failure(tmp_path: Path) -> None:
    """Nothing listens on the granted address: the app gets FetchFailed with httpx's own words, which
    the socket edge answers as a bad request (and httpx is imported only by net.fetch)."""
    async def scenario() -> None:
        import socket

        with socket.socket() as probe:  # a port that was free a moment ago, now closed
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        broker, _ = make_broker(tmp_path)
        token = broker.authority.mint("nobody-home", [f"network:127.0.0.1:{port}"])
        with pytest.raises(FetchFailed, match=r"^ConnectError: "):
            await broker.net_fetch(token, f"http://127.0.0.1:{port}/")
    asyncio.run(scenario())
