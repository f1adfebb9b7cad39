"""kernel.sock's methods are declared in one place (kernel/api.py) and each one is documented."""

from __future__ import annotations

import re
from pathlib import Path

from llmos import ipc
from llmos.kernel.api import KernelApi
from llmos.kernel.service import KernelService

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kernel-api.md"


def documented_methods() -> set[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Methods\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", section, re.MULTILINE))


def test_the_service_declares_no_methods_of_its_own() -> None:
    service = object.__new__(KernelService)  # no start(): only its class's declarations matter
    assert ipc.handlers(service) == {}, "declare kernel.sock's methods in kernel/api.py (KernelApi)"


def test_every_api_method_is_documented() -> None:
    served = set(ipc.handlers(KernelApi(object.__new__(KernelService))))
    assert "apps.run" in served and "flow.start" in served
    documented = documented_methods()
    assert served - documented == set(), "add these to the Methods table of docs/kernel-api.md"
    assert documented - served == set(), "docs/kernel-api.md lists methods kernel.sock does not serve"
