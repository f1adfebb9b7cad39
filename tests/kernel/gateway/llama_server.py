"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`, the `server` extra),
serving the embedded GGUF on 127.0.0.1: the real llama.cpp server code path, with a grammar behind
response_format, an API key check and a /v1/models list."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ALIAS = "gemma-3-270m"
KEY = "sk-llmos-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LlamaServer:
    def __init__(self, model: Path, log: Path, threads: int = 2, context: int = 2048) -> None:
        self.port = free_port()
        self.log = log
        self.argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                     "--port", str(self.port), "--model_alias", ALIAS, "--api_key", KEY,
                     "--n_ctx", str(context), "--n_threads", str(threads)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 240.0) -> LlamaServer:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 240.0) -> LlamaServer:
        """Until /v1/models answers: the model is loaded and no other request holds it (this server
        answers one request at a time, and cannot drop one while it is still reading the prompt)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        probe = urllib.request.Request(f"{self.url}/models", headers={"Authorization": f"Bearer {KEY}"})
        while True:  # readiness: the model list answers once the model is loaded
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(probe, timeout=2.0) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"llama_cpp.server not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """Dies as a crashed or unplugged server would: no goodbye on open connections."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
