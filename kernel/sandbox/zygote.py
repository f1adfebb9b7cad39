"""The zygote: one pre-initialised app host that forks a child per launch, as Android's does.

    python3 -m llmos.kernel.sandbox.zygote --socket PATH [--cache DIR] [--preload wayland]

A spawned app host spends about 0.25 s importing itself, 0.6 s more on Cairo, Pango and pywayland,
and then loads the compiled QuickJS module. The zygote pays that once: it imports everything, loads
the module, says "ready" on stdout, and then only forks.

The contract, one connection per launch (prefork.py is the kernel's side):
- the kernel sends one JSON line {"argv": [the app host's arguments]} with three descriptors (the
  child's stdin, stdout and stderr) as SCM_RIGHTS;
- the zygote answers {"pid": N} with a pidfd for the child (so the kernel can signal it without a pid
  race), or {"error": reason} and keeps serving;
- when the child exits it sends {"exit": code} (negative: killed by that signal) and hangs up.

The child, before a line of app code: makes the three descriptors its 0, 1 and 2 and closes every
other one but the read-only files the loaded modules hold (wasmtime maps memory images from the
compiled module's file), restores
default signal handling, and runs the app host's main, which opens its sockets, drops to the app's
uid, enters an empty network namespace and sets no_new_privs exactly as a spawned host does; the
kernel places it in its cgroup before it sends the spec the host waits for on stdin.
Python's `random` reseeds itself in every child (os.register_at_fork); the QuickJS runtime, its wasm
linear memory and its Math.random seed are created after the fork, per app. docs/runtime.md has the
review of what parent and child still share.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import importlib
import json
import logging
import os
import selectors
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos.kernel.sandbox import guest, host, wasmcache
from llmos.reaping import exited_children

log = logging.getLogger("llmos.sandbox.zygote")

PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
EXIT_THREADED = 75          # EX_TEMPFAIL: started with threads; the supervisor starts it again
REQUEST_LIMIT = 64 * 1024   # bytes of one launch request
REQUEST_TIMEOUT_S = 2.0     # a client that sends less than a line in this time is dropped
THREADS_SETTLE_S = 2.0      # how long helper threads of the preloads may take to end before forking
# A renderer's preload: modules to import, and "module:function" to call once they are (warm-ups
# whose caches every child inherits).
PRELOADS = {"wayland": ("llmos.sdk.wayland.app_window", "llmos.sdk.render.warm:warm")}


class Refused(Exception):
    """A launch request the zygote will not fork for; the message goes back to the kernel."""


def preload(cache: Path | None, names: list[str]) -> tuple[str, frozenset[int]]:
    """Everything a child would otherwise import or load itself. Returns how the wasm module came,
    and the descriptors the children keep: the read-only regular files the loaded modules hold open.
    wasmtime maps the module's memory image from its file at every instantiation, and a descriptor a
    live object owns must not be closed under it (the object would later close whatever reused the
    number); pangocairocffi keeps its two cdef files open. The fonts a warm-up loaded are mapped,
    not held open."""
    for name in names:
        for entry in PRELOADS[name]:
            module, _, function = entry.partition(":")
            loaded = importlib.import_module(module)
            if function:
                warm_up(entry, getattr(loaded, function))
    how = wasmcache.install(cache, compile_apart=True)  # forking needs one thread: no compile here
    warm_up("a guest", guest.warm)
    opened = [int(name) for name in os.listdir("/proc/self/fd")]  # includes listdir's own, now closed
    return how, frozenset(fd for fd in opened if fd > 2 and read_only_file(fd))


def warm_up(what: str, function: Callable[[], object]) -> None:
    """Run one warm-up. It only saves the children work, so a failure is logged, not fatal."""
    try:
        function()
    except Exception as error:
        log.warning("warm-up %s failed (%s: %s); each app host does that work itself",
                    what, type(error).__name__, error)


def read_only_file(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return False
    return stat.S_ISREG(mode) and flags & os.O_ACCMODE == os.O_RDONLY


def close_all_but(keep: frozenset[int]) -> None:
    """Close every descriptor from 3 up, except those in `keep`."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def threads() -> int:
    """Threads in this process as the OS counts them: forking is only safe with one."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def threads_settled(timeout: float = THREADS_SETTLE_S) -> int:
    """The thread count once short-lived helpers have ended, or at the timeout. Pango loads fontconfig
    in a thread of its own that ends once it is done; under load it may still be exiting when the
    warm-ups return. A thread that stays (a compile's worker pool) is still counted after the wait."""
    deadline = time.monotonic() + timeout
    while (count := threads()) != 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    return count


def read_request(connection: socket.socket) -> tuple[list[str], list[int]]:
    """(the host's argv, the child's three descriptors); Refused with a reason for anything else.
    Descriptors that came with a bad request are closed here."""
    connection.settimeout(REQUEST_TIMEOUT_S)
    data, fds, _flags, _address = socket.recv_fds(connection, REQUEST_LIMIT, 3)
    try:
        while not data.endswith(b"\n"):
            more = connection.recv(REQUEST_LIMIT - len(data))
            if not more or len(data) + len(more) >= REQUEST_LIMIT:
                raise Refused("the request is not one JSON line under 64 KiB")
            data += more
        try:
            request = json.loads(data)
        except ValueError as error:
            raise Refused(f"the request is not JSON: {error}") from None
        argv = request.get("argv") if isinstance(request, dict) else None
        if not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
            raise Refused('the request must be {"argv": [str, ...]}')
        if len(fds) != 3:
            raise Refused(f"the request must carry 3 descriptors (stdin, stdout, stderr), not {len(fds)}")
        try:
            host.parse_args(argv)
        except SystemExit:
            raise Refused(f"bad app host arguments: {' '.join(argv)[:300]}") from None
        return argv, fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def send(connection: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    with contextlib.suppress(OSError):  # the kernel hung up: nothing to tell
        socket.send_fds(connection, [json.dumps(message).encode() + b"\n"], fds or [])


def become_child(fds: list[int], argv: list[str], keep_out: list[socket.socket], keep: frozenset[int]) -> int:
    """In the forked child: take the three descriptors as 0, 1 and 2, drop everything else the
    zygote had open but the compiled module's read-only file, and run the app host."""
    for sock in keep_out:
        sock.detach()  # the numbers are closed below; no object may close them again later
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    close_all_but(keep)
    # Its command line is still the zygote's; its name (ps -o comm, top) says what it is now.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, b"llmos-app-host", 0, 0, 0)
    return host.main(argv)


def fork(connection: socket.socket, listener: socket.socket, keep: frozenset[int]) -> int | None:
    """Serve one launch request; returns the child's pid, or None when it was refused."""
    try:
        argv, fds = read_request(connection)
    except Refused as refusal:
        send(connection, {"error": str(refusal)})
        return None
    except OSError as error:
        log.warning("zygote: a launch request failed: %s", error)
        return None
    try:
        count = threads()
        if count != 1:
            send(connection, {"error": f"the zygote has {count} threads; forking it is unsafe"})
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = become_child(fds, argv, [listener, connection], keep)
            except BaseException:  # whatever it was, the child must never return into the zygote
                with contextlib.suppress(Exception):
                    traceback.print_exc()
            finally:
                os._exit(code)
        pidfd = os.pidfd_open(pid)
        send(connection, {"pid": pid}, [pidfd])
        os.close(pidfd)
        return pid
    finally:
        for fd in fds:
            os.close(fd)


def serve(listener: socket.socket, keep: frozenset[int]) -> None:
    """Accept launch requests and reap children, forever, on one thread."""
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wake-up byte is written
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "launch")
    selector.register(wake_read, selectors.EVENT_READ, "reap")
    waiting: dict[int, socket.socket] = {}  # child pid -> the connection that gets its exit code
    while True:
        for key, _ in selector.select():
            if key.data == "launch":
                connection, _ = listener.accept()
                pid = fork(connection, listener, keep)
                if pid is None:
                    connection.close()
                else:
                    waiting[pid] = connection
            else:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 512):
                        pass
                reap(waiting)


def reap(waiting: dict[int, socket.socket]) -> None:
    for pid, code in exited_children():
        connection = waiting.pop(pid, None)
        if connection is not None:
            connection.setblocking(True)
            send(connection, {"exit": code})
            connection.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="llmos.kernel.sandbox.zygote", description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True, type=Path, help="where to listen for launch requests")
    parser.add_argument("--cache", type=Path, default=None, help="the compiled wasm cache directory")
    parser.add_argument("--preload", action="append", default=[], choices=sorted(PRELOADS),
                        help="also import a renderer's modules before forking")
    return parser.parse_args(argv)


def exit_with_parent() -> None:
    """The kernel that started the zygote is its only client: when it dies (and PID 1 starts another,
    with a zygote of its own), this one goes too. Forked children do not inherit the setting."""
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the prctl
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_with_parent()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"zygote[{os.getpid()}] %(name)s: %(message)s")
    how, keep = preload(args.cache, args.preload)
    if (count := threads_settled()) != 1:  # a compile's worker pool: the next start loads the cache
        log.warning("%d threads after loading (wasm module %s); forking would be unsafe, exiting to be "
                    "restarted", count, how)
        return EXIT_THREADED
    with contextlib.suppress(FileNotFoundError):
        args.socket.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old_mask = os.umask(0o177)  # the socket is the kernel's alone: 0600 from the start
    try:
        listener.bind(str(args.socket))
    finally:
        os.umask(old_mask)
    listener.listen(64)
    print(json.dumps({"status": "ready", "pid": os.getpid(), "wasm": how,
                      "preload": args.preload}), flush=True)
    log.info("ready: preloaded %s, wasm module %s", ",".join(args.preload) or "the app host", how)
    with contextlib.suppress(KeyboardInterrupt):
        serve(listener, keep)
    return 0


__all__ = ["Refused", "main", "preload", "read_request", "serve"]


if __name__ == "__main__":
    sys.exit(main())
