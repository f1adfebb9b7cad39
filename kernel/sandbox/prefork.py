"""The kernel's side of the zygote (zygote.py): keep one running, ask it to fork app hosts, and hold
each forked host by a pidfd with the face of an asyncio subprocess.

The zygote is a convenience, never a dependency: when it is not ready, has died, or refuses a
request, `fork` returns None and the manager spawns the host the ordinary way; meanwhile the
supervisor restarts the zygote with a growing delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from llmos.fdwait import readable

log = logging.getLogger("llmos.kernel.sandbox.prefork")

READY_TIMEOUT_S = 120.0   # the zygote's imports and module load, on a slow emulated machine
FORK_TIMEOUT_S = 5.0      # one request and its answer
STARTING_WAIT_S = 15.0    # how long a launch waits for a zygote that is loading before spawning
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 15.0, 30.0)
EXIT_UNKNOWN = -255       # the host exited, but the zygote that reaped it died before saying how


class ForkedProcess:
    """An app host forked by the zygote: pid, returncode, stdin, stdout, wait() and kill(), as
    asyncio.subprocess.Process has them. Signals go through a pidfd, so a recycled pid is never hit;
    the exit code comes from the zygote, its parent."""

    def __init__(self, pid: int, pidfd: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 link: asyncio.StreamReader, link_writer: asyncio.StreamWriter, pending: bytes) -> None:
        self.pid = pid
        self.stdin: asyncio.StreamWriter | None = stdin
        self.stdout: asyncio.StreamReader | None = stdout
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._link, self._link_writer = link, link_writer
        self._exited = asyncio.get_running_loop().create_future()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(pending))

    async def _watch(self, pending: bytes) -> None:
        code = _exit_code(pending)
        if code is None:
            with contextlib.suppress(OSError, ValueError):
                while code is None and (line := await self._link.readline()):
                    code = _exit_code(line)
        if code is None:  # the zygote is gone: the pidfd still tells when the child ends
            await readable(self._pidfd)
            code = EXIT_UNKNOWN
        self.returncode = code
        self._close()
        if not self._exited.done():
            self._exited.set_result(code)

    def _close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        self._link_writer.close()

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, signum: int) -> None:
        if self.returncode is not None or self._pidfd < 0:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _exit_code(data: bytes) -> int | None:
    for line in data.splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and isinstance(message.get("exit"), int):
                return int(message["exit"])
    return None


def zygote_for(run_dir: Path, cache_dir: Path | None, renderer: str) -> Prefork:
    """The zygote of the app hosts whose sockets are in `run_dir`, preloading `renderer`'s modules."""
    return Prefork(run_dir / f"zygote-{os.getpid()}.sock", cache_dir=cache_dir,
                   preload=("wayland",) if renderer == "wayland" else ())


class Prefork:
    """Supervises one zygote process and forks app hosts through it."""

    def __init__(self, socket_path: Path, *, cache_dir: Path | None = None,
                 preload: tuple[str, ...] = ()) -> None:
        self.socket_path = socket_path
        self.cache_dir = cache_dir
        self.preload = preload
        self.process: asyncio.subprocess.Process | None = None
        self.ready = False
        self.starts = 0
        self._ready_event = asyncio.Event()
        self._settled = asyncio.Event()  # this start is ready, or has failed
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._loading = False  # from start() (or a restart) until the zygote is ready or has failed

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            # loading from now: its process is only created when the task runs, and a launch that
            # comes first (the first launch after boot, all of a burst) must wait for it, not spawn
            self._loading = True
            self._task = asyncio.get_running_loop().create_task(self._supervise())
        return self._task

    @property
    def starting(self) -> bool:
        """The zygote is starting or still loading: a fork is moments away, and cheaper than a spawn."""
        return self._loading and not self.ready

    async def until_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        return self.ready

    async def until_loaded(self) -> bool:
        """Whether the zygote started last came up: waits until it is ready or has failed, which
        READY_TIMEOUT_S bounds. Without a start, there is nothing to wait for."""
        if self._loading and not self.ready:
            await self._settled.wait()
        return self.ready

    async def _supervise(self) -> None:
        """Start the zygote, and start it again whenever it exits, a little later each time."""
        failures = 0
        while not self._stopping:
            self.starts += 1
            self._loading = True
            self._settled.clear()
            code = await self._run_once()
            self.ready = False
            self._ready_event.clear()
            self._loading = False
            self._settled.set()
            if self._stopping:
                return
            delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S) - 1)]
            failures += 1
            log.warning("zygote exited (code %s); launches spawn hosts until it is back in %.1f s",
                        code, delay)
            await asyncio.sleep(delay)

    async def _run_once(self) -> int | None:
        """One zygote process, from its start to its exit; its exit code, or None if it never started."""
        command = [sys.executable, "-m", "llmos.kernel.sandbox.zygote", "--socket", str(self.socket_path)]
        command += ["--cache", str(self.cache_dir)] if self.cache_dir else []
        for name in self.preload:
            command += ["--preload", name]
        try:
            self.process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE)
        except OSError as error:
            log.warning("zygote did not start: %s", error)
            return None
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), READY_TIMEOUT_S)
            if json.loads(line or b"{}").get("status") == "ready":
                self.ready = True
                self._ready_event.set()
                self._settled.set()
                log.info("zygote ready (pid %d)", self.process.pid)
        except (TimeoutError, ValueError) as error:
            log.warning("zygote not ready: %s", error or "timed out")
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        return await self.process.wait()

    async def fork(self, argv: list[str]) -> ForkedProcess | None:
        """An app host forked with these arguments, or None (the caller spawns one instead). While the
        zygote is still loading, the launch waits for it: a host spawned meanwhile would load the same
        modules again, competing with the zygote for the CPU."""
        if self.starting:
            await self.until_ready(STARTING_WAIT_S)
        if not self.ready:
            return None
        try:
            return await asyncio.wait_for(self._fork(argv), FORK_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, RuntimeError) as error:
            log.warning("zygote could not fork a host (%s); spawning it instead",
                        error or type(error).__name__)
            return None

    async def _fork(self, argv: list[str]) -> ForkedProcess:
        loop = asyncio.get_running_loop()
        stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC)
        stdout_read, stdout_write = os.pipe2(os.O_CLOEXEC)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, str(self.socket_path))
            socket.send_fds(sock, [json.dumps({"argv": argv}).encode() + b"\n"],
                            [stdin_read, stdout_write, sys.stderr.fileno()])
            os.close(stdin_read)
            os.close(stdout_write)
            stdin_read = stdout_write = -1
            data, fds = await _recv_with_fds(sock)
            while b"\n" not in data and len(data) < 4096:
                more, more_fds = await _recv_with_fds(sock)
                data, fds = data + more, fds + more_fds
            first, _, pending = data.partition(b"\n")
            reply = json.loads(first)
            if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int) or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                raise RuntimeError(str(reply.get("error") if isinstance(reply, dict) else reply))
        except BaseException:
            sock.close()
            for fd in (stdin_read, stdout_write, stdin_write, stdout_read):
                if fd >= 0:
                    os.close(fd)
            raise
        stdout = asyncio.StreamReader(limit=2**16)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout),
                                     os.fdopen(stdout_read, "rb", 0))
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                            os.fdopen(stdin_write, "wb", 0))
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        link, link_writer = await asyncio.open_unix_connection(sock=sock)
        return ForkedProcess(reply["pid"], fds[0], stdin, stdout, link, link_writer, pending)

    async def stop(self) -> None:
        self._stopping = True
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5.0)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.ready = self._loading = False
        self._ready_event.clear()
        self._settled.set()  # nothing waits for a zygote that was stopped
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


async def _recv_with_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One read from a non-blocking socket, with the descriptors that came with it."""
    while True:
        try:
            data, fds, _flags, _address = socket.recv_fds(sock, 4096, 1)
        except BlockingIOError:
            await readable(sock.fileno())
            continue
        if not data:
            raise ConnectionError("the zygote hung up without an answer")
        return data, fds


__all__ = ["EXIT_UNKNOWN", "ForkedProcess", "Prefork"]
