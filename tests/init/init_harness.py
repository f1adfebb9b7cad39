"""Helpers that run the real supervisor as a subprocess (a child subreaper, not PID 1) against a
temp run dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from waiting import wait_for as wait_until

from llmos import ipc

REPO = Path(__file__).resolve().parents[2]


class Init:
    """A running supervisor: its console output, its control socket and its process."""

    def __init__(self, tmp: Path, services: list[dict[str, Any]], env: dict[str, str] | None = None,
                 config: str | None = None) -> None:
        self.tmp = tmp
        self.run_dir = tmp / "run"
        self.console = tmp / "console.log"
        table = tmp / "services.json"
        table.write_text(json.dumps({"services": services}))
        self.env = {**os.environ, "LLMOS_RUN_DIR": str(self.run_dir), "LLMOS_STATE_DIR": str(tmp / "state"),
                    "LLMOS_CONFIG": str(tmp / "llmos.toml"), "LLMOS_SERVICES": str(table),
                    "LLMOS_CGROUP_ROOT": str(tmp / "no-cgroup"), "LLMOS_INIT_FAULTS": "1",
                    "LLMOS_CMDLINE_FILE": str(tmp / "cmdline"), **(env or {})}
        if config is not None:
            (tmp / "llmos.toml").write_text(config)
        self.started_at = time.monotonic()
        with self.console.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "llmos.init"], stdout=out,
                                         stderr=subprocess.STDOUT, env=self.env, cwd=REPO)

    @property
    def socket(self) -> Path:
        return self.run_dir / "init.sock"

    def output(self) -> str:
        return self.console.read_text(errors="replace")

    def lines(self) -> list[str]:
        return self.output().splitlines()

    def call(self, method: str, timeout: float = 10.0, **params: Any) -> Any:
        wait_until(self.socket.exists, 10, lambda: f"the control socket:\n{self.output()}")
        return ipc.call(self.socket, method, timeout=timeout, **params)

    def wait_line(self, text: str, timeout: float = 10.0) -> str:
        def found() -> str | None:
            return next((line for line in self.lines() if text in line), None)

        return wait_until(found, timeout, lambda: f"console line containing {text!r}:\n{self.output()}")

    def service(self, name: str) -> dict[str, Any]:
        return next(s for s in self.call("status")["services"] if s["name"] == name)

    def wait_state(self, name: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            if not self.socket.exists():
                return None
            service = self.service(name)
            return service if service["state"] == state else None

        return wait_until(check, timeout, lambda: f"{name} to be {state}:\n{self.output()}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def socket_service(name: str, delay: float = 0.0, **extra: Any) -> dict[str, Any]:
    """A Python service that listens on run_dir/<name>.sock after `delay` seconds."""
    code = ("import os, socket, time\n"
            f"time.sleep({delay})\n"
            f"path = os.environ['LLMOS_RUN_DIR'] + '/{name}.sock'\n"
            "if os.path.exists(path):\n"
            "    os.unlink(path)\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind(path)\n"
            "s.listen()\n"
            f"print('{name} listening', flush=True)\n"
            "time.sleep(1000)\n")
    return {"name": name, "argv": ["python3", "-c", code], "ready": f"socket:{name}", **extra}
