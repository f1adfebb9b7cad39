"""The app host's host functions against a stand-in kernel connection: every call goes to the kernel,
and a refusal fails the function with the kernel's reason (the app's CapabilityError, hostfn.py), a
denial logged. The real kernel's side is tested end to end in test_attacks.py and test_broker.py."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import pytest

from llmos.ipc import ErrorCode, RpcError
from llmos.kernel.sandbox.host import AppHost
from llmos.kernel.sandbox.hostfn import HostFunctionError


class Kernel:
    """A SyncClient that answers from a queue: a value, or an RpcError to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, method: str, **params: Any) -> Any:
        self.calls.append((method, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def host_functions(kernel: Kernel) -> dict[str, Any]:
    host = AppHost(argparse.Namespace(test_clock=True), {"token": "tok", "source": ""})
    host.app, host.scopes = "notes", frozenset({"storage:local"})
    host.kernel = kernel  # type: ignore[assignment]
    return host._host_functions()


def test_every_call_goes_to_the_kernel_and_answers_its_value() -> None:
    kernel = Kernel(None, '"v"', '"v"')
    fns = host_functions(kernel)
    assert [fns["storage_get"]("k") for _ in range(3)] == [None, '"v"', '"v"']
    assert kernel.calls == [("app.storage.get", {"token": "tok", "key": "k"})] * 3


def test_a_denied_call_fails_with_the_kernels_reason_and_is_logged(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="llmos.sandbox.host")
    fns = host_functions(Kernel(RpcError(ErrorCode.DENIED, "revoked: user pressed revoke"),
                                RpcError(ErrorCode.BAD_REQUEST, "key: a string")))
    with pytest.raises(HostFunctionError) as denied:
        fns["storage_get"]("k")
    assert denied.value.message == "revoked: user pressed revoke"
    assert [r.getMessage() for r in caplog.records] == \
        ["notes: kernel denied a call: revoked: user pressed revoke"]
    with pytest.raises(HostFunctionError) as bad:
        fns["storage_set"]("k", 3)
    assert bad.value.message == "key: a string" and len(caplog.records) == 1  # only denials are logged
