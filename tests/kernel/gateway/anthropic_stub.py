"""A wire-compatible stand-in for the Anthropic Messages API on 127.0.0.1.

It stands in for api.anthropic.com because tests must not depend on the network or a paid key; the
real `anthropic` SDK talks to it over real HTTP, so retries, SSE parsing and error mapping are the SDK's
own. POST /v1/messages answers from a script: each entry is consumed by one request, the last one
repeats. Entries:
    Reply(text)                      200, JSON or SSE (whichever the request asked for)
    Fail(429, "rate_limit_error", retry_after="0")
    Fail(500, "api_error"), Fail(529, "overloaded_error")
Every request body and its headers are recorded in `requests` for assertions.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str
    input_tokens: int = 120
    output_tokens: int = 80
    chunk: int = 40  # characters per SSE text delta


@dataclass
class Fail:
    status: int
    kind: str
    retry_after: str | None = None


@dataclass
class Stub:
    script: list[Reply | Fail] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def next(self) -> Reply | Fail:
        if len(self.script) > 1:
            return self.script.pop(0)
        return self.script[0]

    def start(self) -> Stub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if self.path != "/v1/messages":
                    return self._json(404, {"type": "error",
                                            "error": {"type": "not_found_error", "message": self.path}})
                # This SDK version sends "Authorization: Bearer"; older ones sent x-api-key.
                if not ({"x-api-key", "authorization"} & {k.lower() for k in self.headers}):
                    return self._json(401, {"type": "error",
                                            "error": {"type": "authentication_error", "message": "no key"}})
                step = stub.next()
                if isinstance(step, Fail):
                    headers = {"retry-after": step.retry_after} if step.retry_after is not None else {}
                    error = {"type": "error", "error": {"type": step.kind, "message": step.kind}}
                    return self._json(step.status, error, headers)
                if body.get("stream"):
                    return self._sse(step, body)
                return self._json(200, self._message(step, body, step.text, "end_turn"))

            def _message(self, step: Reply, body: dict[str, Any], text: str,
                         stop: str | None) -> dict[str, Any]:
                return {"id": "msg_stub", "type": "message", "role": "assistant", "model": body.get("model"),
                        "content": [{"type": "text", "text": text}] if text else [],
                        "stop_reason": stop, "stop_sequence": None,
                        "usage": {"input_tokens": step.input_tokens, "output_tokens": step.output_tokens}}

            def _json(self, status: int, payload: dict[str, Any],
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, step: Reply, body: dict[str, Any]) -> None:
                start = self._message(step, body, "", None)
                start["usage"]["output_tokens"] = 1
                events: list[tuple[str, dict[str, Any]]] = [
                    ("message_start", {"type": "message_start", "message": start}),
                    ("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}}),
                    ("ping", {"type": "ping"}),
                ]
                for at in range(0, len(step.text), step.chunk):
                    events.append(("content_block_delta", {
                        "type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": step.text[at:at + step.chunk]}}))
                events += [
                    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                       "usage": {"output_tokens": step.output_tokens}}),
                    ("message_stop", {"type": "message_stop"}),
                ]
                data = b"".join(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()
                                for name, payload in events)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
