"""The start_init fixture: a real supervisor subprocess per test, always stopped afterwards."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .init_harness import Init


@pytest.fixture
def start_init(tmp_path: Path) -> Iterator[Callable[..., Init]]:
    running: list[Init] = []

    def start(services: list[dict[str, Any]], **kwargs: Any) -> Init:
        init = Init(tmp_path, services, **kwargs)
        running.append(init)
        return init

    yield start
    for init in running:
        if init.proc.poll() is None:
            init.proc.send_signal(signal.SIGTERM)
            try:
                init.proc.wait(15)
            except subprocess.TimeoutExpired:
                init.proc.kill()
                init.proc.wait()
