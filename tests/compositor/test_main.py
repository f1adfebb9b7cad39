"""`python -m llmos.compositor` under PID 1's `awaits`: it opens its output only once PID 1 has said
the display's drivers are loaded, and still opens it when PID 1 says they are not."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from waiting import next_line, wait_for

from .conftest import launch

OUTPUT_LINE = "llmos: compositor output headless"


def first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    return next_line(proc.stdout, timeout)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()


def times(log: Path) -> tuple[float, float]:
    found = re.search(r"code loaded t=([\d.]+), display drivers t=([\d.]+)", log.read_text())
    assert found, log.read_text()
    return float(found[1]), float(found[2])


def test_the_output_opens_only_after_pid1_answers(tmp_path: Path) -> None:
    read, write = os.pipe()
    proc = launch(tmp_path, await_fd=read)
    os.close(read)
    try:
        # Absence can only be seen over a window: three seconds, several times a host's imports.
        assert first_line(proc, 3) == "", "the output opened before PID 1 answered"
        os.write(write, b"ready\n")
        assert first_line(proc, 30).startswith(OUTPUT_LINE), (tmp_path / "stderr.log").read_text()
        loaded, drivers = times(tmp_path / "stderr.log")
        assert drivers >= loaded
        assert "without waiting" not in (tmp_path / "stderr.log").read_text()
    finally:
        os.close(write)
        stop(proc)


def test_drivers_that_did_not_load_are_named_and_the_output_opens_anyway(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.write(write, b"not ready: udev-display failed: exited with status 1\n")
    proc = launch(tmp_path, await_fd=read)
    os.close(read)
    os.close(write)
    try:
        assert first_line(proc, 30).startswith(OUTPUT_LINE), (tmp_path / "stderr.log").read_text()
        wait_for(lambda: "udev-display failed: exited with status 1" in (tmp_path / "stderr.log").read_text(),
                 10, "the compositor to say what it did not wait for")
        assert "opening the display without waiting for its drivers" in (tmp_path / "stderr.log").read_text()
    finally:
        stop(proc)


def test_the_compositor_runs_without_openssl(tmp_path: Path) -> None:
    """It speaks no TLS, so asyncio's ssl import is skipped (compositor/__main__.py): no libssl or
    libcrypto is mapped once it serves."""
    proc = launch(tmp_path)
    try:
        assert first_line(proc, 30).startswith(OUTPUT_LINE), (tmp_path / "stderr.log").read_text()
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "libwayland-server" in maps  # the maps of the compositor itself
        assert not re.search(r"libssl|libcrypto|_ssl\.", maps)
    finally:
        stop(proc)
