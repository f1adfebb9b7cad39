"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`, the `server` extra),
serving the embedded GGUF on 127.0.0.1: the real llama.cpp server code path, with a grammar behind
response_format, an API key check and a /v1/models list."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

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


def grammar_verdicts(cases: list[tuple[dict[str, Any], list[str]]]) -> list[list[str]]:
    """For each (JSON schema, texts): what llama.cpp's grammar sampler makes of each text under the
    grammar llama-cpp-python's converter writes for the schema (the server's own path): "accepted",
    "rejected after N characters …", "incomplete" or "grammar rejected". In a subprocess, since a
    grammar llama.cpp cannot use may end the process; the model file gives the vocabulary only."""
    from llmos.kernel.gateway import model as model_files
    from llmos.settings import GatewaySettings

    path = model_files.locate(GatewaySettings()).path
    lines = "".join(json.dumps({"schema": schema, "texts": texts}) + "\n" for schema, texts in cases)
    done = subprocess.run([sys.executable, __file__, "grammar", str(path)], input=lines, text=True,
                          capture_output=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"grammar check exited ({done.returncode}):\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def _grammar_main(model_path: str) -> None:
    import ctypes
    import math

    import llama_cpp
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), params)
    vocab = llama_cpp.llama_model_get_vocab(model)
    end = llama_cpp.llama_vocab_eos(vocab)

    def allowed(sampler: Any, token: int) -> bool:
        data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 1.0, 0.0))
        array = llama_cpp.llama_token_data_array(data, 1, -1, False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return math.isfinite(data[0].logit)

    def piece(token: int) -> str:
        buffer = ctypes.create_string_buffer(64)
        size = llama_cpp.llama_token_to_piece(vocab, token, buffer, 64, 0, False)
        return buffer.raw[:size].decode(errors="replace")

    for line in sys.stdin:
        case = json.loads(line)
        grammar = json_schema_to_gbnf(json.dumps(case["schema"])).encode()
        verdicts = []
        for text in case["texts"]:
            sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar, b"root")
            if not sampler:
                verdicts.append("grammar rejected")
                continue
            raw = text.encode()
            tokens = (llama_cpp.llama_token * (len(raw) + 8))()
            count = llama_cpp.llama_tokenize(vocab, raw, len(raw), tokens, len(raw) + 8, False, False)
            read, verdict = "", ""
            for token in tokens[:count]:
                if not allowed(sampler, token):
                    verdict = f"rejected after {len(read)} characters: {read[-30:]!r} + {piece(token)!r}"
                    break
                llama_cpp.llama_sampler_accept(sampler, token)
                read += piece(token)
            verdicts.append(verdict or ("accepted" if allowed(sampler, end) else "incomplete"))
            llama_cpp.llama_sampler_free(sampler)
        print(json.dumps(verdicts), flush=True)


if __name__ == "__main__" and sys.argv[1:2] == ["grammar"]:
    _grammar_main(sys.argv[2])
