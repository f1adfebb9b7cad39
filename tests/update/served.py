"""A real HTTP server for update tests: it serves a directory and counts the bytes it sent for each
response, so a test sees a client hang up after a refused head."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Any


class Served:
    """A real HTTP server over a directory that counts the bytes it sent for each request."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests: list[tuple[str, int]] = []  # (path, bytes sent), once each response ended
        self.ended = threading.Condition()
        served, ended = self.requests, self.ended

        class Counting(http.server.SimpleHTTPRequestHandler):
            def copyfile(self, source: Any, outputfile: Any) -> None:
                total = 0
                try:
                    while chunk := source.read(64 << 10):
                        outputfile.write(chunk)
                        total += len(chunk)
                except OSError:
                    pass  # the client hung up: what a refusal on the head does
                finally:
                    with ended:
                        served.append((self.path, total))
                        ended.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Counting, directory=str(directory)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def responses(self, count: int, timeout: float = 30.0) -> list[tuple[str, int]]:
        """The first `count` responses, once they have ended (a hung-up one ends when its write fails)."""
        with self.ended:
            assert self.ended.wait_for(lambda: len(self.requests) >= count, timeout), self.requests
            return self.requests[:count]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
