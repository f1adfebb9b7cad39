"""kernel/sandbox/syncrpc.py: the app host's blocking kernel client answers in order, skips strays,
fails clearly, and polls for an answer only while the kernel answers quickly."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmos.ipc import MAX_LINE, RpcError
from llmos.kernel.sandbox.syncrpc import SyncClient

Answer = Callable[[dict], list[bytes]]  # a request -> the lines the fake kernel sends back


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Callable[[Answer], SyncClient]]:
    """A fake kernel on a real Unix socket, answering each request line as `answer` says."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "kernel.sock"))
    listener.listen(1)
    clients: list[SyncClient] = []
    threads: list[threading.Thread] = []

    def start(answer: Answer) -> SyncClient:
        def serve() -> None:
            connection, _ = listener.accept()
            with connection, connection.makefile("rb") as lines:
                for line in lines:
                    for reply in answer(json.loads(line)):
                        connection.sendall(reply)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        clients.append(SyncClient(tmp_path / "kernel.sock"))
        return clients[-1]

    yield start
    for client in clients:
        client.close()
    listener.close()
    for thread in threads:
        thread.join(5)


def _reply(request: dict, **fields: object) -> bytes:
    return json.dumps({"id": request["id"], **fields}).encode() + b"\n"


def test_answers_come_back_in_order_and_strays_are_skipped(kernel: Callable[[Answer], SyncClient]) -> None:
    client = kernel(lambda request: [b'{"event": "pushed"}\n', _reply(request, id=999, result="stray"),
                                     _reply(request, result=request["params"]["n"] + 1)])
    assert [client.call("add", n=n) for n in range(50)] == list(range(1, 51))


def test_a_refusal_raises_the_kernels_error(kernel: Callable[[Answer], SyncClient]) -> None:
    client = kernel(lambda request: [_reply(request, error={"code": "denied", "message": "no such scope"})])
    with pytest.raises(RpcError, match="no such scope") as raised:
        client.call("app.storage.get", key="k")
    assert raised.value.code == "denied"


def test_a_closed_connection_and_an_endless_line_fail_clearly(kernel: Callable[[Answer], SyncClient]) -> None:
    client = kernel(lambda request: [])
    client._sock.shutdown(socket.SHUT_WR)  # the fake kernel's loop ends and it closes its side
    with pytest.raises((ConnectionError, BrokenPipeError)):
        client.call("anything")
    client = kernel(lambda request: [b"x" * (MAX_LINE + 2)])
    with pytest.raises(ConnectionError, match="over"):
        client.call("anything")


def test_it_polls_only_while_the_kernel_answers_quickly(kernel: Callable[[Answer], SyncClient]) -> None:
    def answer(request: dict) -> list[bytes]:
        time.sleep(0.05 if request["method"] == "slow" else 0)
        return [_reply(request, result="ok")]

    client = kernel(answer)
    # quick answers: the next call polls before it sleeps (a round trip within SPIN_S, 0.3 ms; on a
    # loaded 2-core machine one of them may take longer, so a few are tried)
    assert any(client.call("quick") == "ok" and client.spinning for _ in range(50))
    cpu = time.process_time()
    client.call("slow")  # 50 ms: it polls for at most SPIN_S (0.3 ms), then sleeps
    assert time.process_time() - cpu < 0.02
    assert not client.spinning  # the next call sleeps at once
    # quick answers turn it back on (within SPIN_S of the request, even with the wake-up)
    assert any(client.call("quick") == "ok" and client.spinning for _ in range(50))
