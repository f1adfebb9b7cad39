"""App hosts forked from the zygote: confined like spawned ones, nothing of the zygote's left open,
their own randomness, exit codes and kills through pidfds, bad requests refused, a dead zygote
restarted while launches fall back, and bursts queued."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmos.kernel.sandbox import zygote
from llmos.kernel.sandbox.cgroup import AppCgroups
from llmos.kernel.sandbox.confine import UidTable
from llmos.kernel.sandbox.prefork import ForkedProcess, Prefork

from .conftest import app_source
from .test_cgroup import fake_cgroupfs

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid and unshare")
POMODORO = ["storage:local", "timer", "notify", "ui:window"]
RANDOM = """import { ui } from '@llm-os/sdk';
export default function App() {
  return ui.Window({ title: 'chance' }, [ui.Text({}, String(Math.random()))]);
}
"""


def fd_targets(pid: int | str) -> dict[int, str]:
    targets = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed while listed
            targets[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return targets


def run(scenario, timeout: float = 90) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout))


@needs_root
def test_a_forked_host_is_confined_like_a_spawned_one(make_kernel, tmp_path) -> None:
    async def scenario() -> None:
        async with make_kernel(prefork=True) as kernel:
            cgroups = fake_cgroupfs(tmp_path / "cgroupfs")
            kernel.manager.cgroups = AppCgroups(cpu_ms_per_s=500, root=cgroups)
            token = kernel.authority.mint("pomodoro", POMODORO)
            app = await kernel.manager.launch(app_source("pomodoro.ts"), token)
            assert isinstance(app.process, ForkedProcess)
            assert Path(f"/proc/{app.pid}/comm").read_text().strip() == "llmos-app-host"
            uid = UidTable(tmp_path / "state" / "sandbox" / "uids.json").uid("pomodoro")
            assert (await app.status())["confinement"] == {"uid": uid, "netns": True, "skipped": []}
            proc = Path("/proc") / str(app.pid)
            uids = next(line for line in (proc / "status").read_text().splitlines()
                        if line.startswith("Uid:"))
            assert uids.split()[1:] == [str(uid)] * 4
            assert os.readlink(proc / "ns" / "net") != os.readlink("/proc/self/ns/net")
            core = next(line for line in (proc / "limits").read_text().splitlines() if "core" in line)
            assert core.split()[4:6] == ["0", "0"]
            # placed in its own cgroup by pid before it got its spec
            placed = cgroups / "llmos" / "apps" / f"host-{app.pid}" / "cgroup.procs"
            assert placed.read_text() == str(app.pid)
            # Of what the zygote holds open (sockets, pipes, files: each named by its inode), the child
            # keeps only read-only files, the compiled module's among them. Anonymous inodes read alike.
            assert kernel.manager.prefork is not None and kernel.manager.prefork.process is not None
            zygote = {target for fd, target in fd_targets(kernel.manager.prefork.process.pid).items()
                      if fd > 2 and not target.startswith("anon_inode:")}
            child = {target: fd for fd, target in fd_targets(app.pid).items() if fd > 2}
            shared = set(child) & zygote
            assert any(target.endswith(".cwasm") for target in shared), shared
            for target in shared:  # each a regular file the child can only read
                info = (proc / "fdinfo" / str(child[target])).read_text()
                flags = int(info.split("flags:")[1].split()[0], 8)
                assert Path(target).is_file() and flags & os.O_ACCMODE == os.O_RDONLY, target
            # and it works: a storage call goes through the kernel
            slider = (await app.tree())["tree"]["children"][2]["props"]["onChange"]["$handler"]
            await app.event(slider, [5])
            assert kernel.broker.storage.get("pomodoro", "minutes") == "5"
    run(scenario)


def test_forked_apps_have_their_own_randomness_exit_codes_and_kills(make_kernel) -> None:
    async def scenario() -> None:
        async with make_kernel(prefork=True) as kernel:
            apps = [await kernel.manager.launch(RANDOM, kernel.authority.mint(f"chance-{i}", ["ui:window"]))
                    for i in range(3)]
            assert all(isinstance(app.process, ForkedProcess) for app in apps)
            draws = [(await app.tree())["tree"]["children"][0]["children"][0] for app in apps]
            assert len(set(draws)) == 3, draws
            assert await apps[0].stop() == 0
            apps[1].process.kill()
            code, _ = await apps[1].wait(10)
            assert code == -9
            with pytest.raises(ProcessLookupError):  # no signal for a pid that may be someone else's now
                apps[1].process.kill()
            assert await apps[2].stop() == 0
    run(scenario)


async def request(path: Path, payload: bytes, fds: list[int]) -> dict:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, str(path))
        socket.send_fds(sock, [payload], fds)
        answer = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
    return json.loads(answer)


def test_bad_requests_are_refused_and_the_zygote_keeps_serving(make_kernel) -> None:
    async def scenario() -> None:
        async with make_kernel(prefork=True) as kernel:
            prefork = kernel.manager.prefork
            assert prefork is not None
            with open(os.devnull, "rb") as null:
                three = [null.fileno()] * 3
                cases = [(b"nonsense\n", three, "not JSON"),
                         (b'{"argv": "--kernel"}\n', three, "must be"),
                         (b'{"argv": ["--kernel", "k", "--control", "c"]}\n', [], "3 descriptors"),
                         (b'{"argv": ["--no-such-flag"]}\n', three, "bad app host arguments")]
                for payload, fds, reason in cases:
                    assert reason in (await request(prefork.socket_path, payload, fds))["error"]
            token = kernel.authority.mint("pomodoro", POMODORO)
            app = await kernel.manager.launch(app_source("pomodoro.ts"), token)
            assert isinstance(app.process, ForkedProcess) and prefork.starts == 1
    run(scenario)


def test_a_dead_zygote_is_restarted_and_launches_spawn_meanwhile(make_kernel) -> None:
    async def scenario() -> None:
        async with make_kernel(prefork=True) as kernel:
            prefork = kernel.manager.prefork
            assert prefork is not None and prefork.process is not None
            before = await kernel.manager.launch(RANDOM, kernel.authority.mint("before", ["ui:window"]))
            prefork.process.kill()
            await prefork.process.wait()
            spawned = await kernel.manager.launch(RANDOM, kernel.authority.mint("during", ["ui:window"]))
            assert not isinstance(spawned.process, ForkedProcess)
            assert await prefork.until_ready(60) and prefork.starts == 2
            forked = await kernel.manager.launch(RANDOM, kernel.authority.mint("after", ["ui:window"]))
            assert isinstance(forked.process, ForkedProcess)
            # the host forked by the dead zygote still runs, and can still be stopped
            assert (await before.tree())["tree"]["type"] == "Window"
            assert await before.stop() in (0, -255)
            assert await spawned.stop() == 0 and await forked.stop() == 0
    run(scenario)


def test_a_burst_of_launches_is_queued_and_every_app_starts(make_kernel) -> None:
    async def scenario() -> None:
        async with make_kernel(prefork=True) as kernel:
            manager = kernel.manager
            starting, most = 0, 0
            start_host = manager._start_host

            async def counted(args: list[str]):
                nonlocal starting, most
                starting += 1
                most = max(most, starting)
                try:
                    return await start_host(args)
                finally:
                    starting -= 1
            manager._start_host = counted  # type: ignore[method-assign]
            tokens = [kernel.authority.mint(f"burst-{i}", ["ui:window"]) for i in range(16)]
            apps = await asyncio.gather(*(manager.launch(RANDOM, token) for token in tokens))
            assert len({app.pid for app in apps}) == 16
            assert all(isinstance(app.process, ForkedProcess) for app in apps)
            assert most <= 4  # the rest waited their turn
            for app in apps:
                assert (await app.tree())["tree"]["type"] == "Window"
                assert await app.stop() == 0
    run(scenario, 180)


SETTLING = """
import threading, time
from llmos.kernel.sandbox import zygote
threading.Thread(target=time.sleep, args=(0.1,)).start()
print(zygote.threads_settled(5))
stop = threading.Event()
threading.Thread(target=stop.wait, args=(30,)).start()
started = time.monotonic()
print(zygote.threads_settled(0.2), time.monotonic() - started >= 0.2)
stop.set()
"""


def test_threads_settled_waits_for_a_helper_that_ends_but_not_for_one_that_stays() -> None:
    """Pango's fontconfig thread ends once it has loaded; under load it may still be exiting when the
    preloads return, and the zygote should not restart for that. A worker pool stays, and is counted.
    In a fresh interpreter: this one may hold threads of other tests."""
    done = subprocess.run([sys.executable, "-c", SETTLING], capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.split("\n")[:2] == ["1", "2 True"]


def test_a_zygote_without_a_compiled_guest_has_it_compiled_apart(short_dir, tmp_path) -> None:
    """Compiling spins up wasmtime's worker threads, and forking a threaded process is unsafe: the
    zygote has a child process compile the guest into the cache, loads that, and is ready on its
    first start (before, it compiled, waited for the threads, exited and started again)."""
    async def scenario() -> None:
        prefork = Prefork(short_dir / "zygote.sock", cache_dir=tmp_path / "empty-cache")
        prefork.start()
        try:
            assert await prefork.until_ready(120)
            assert prefork.starts == 1 and list((tmp_path / "empty-cache").glob("*.cwasm"))
        finally:
            await prefork.stop()
    run(scenario, 180)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


KERNEL = """import asyncio, sys
from pathlib import Path
from llmos.kernel.sandbox.prefork import Prefork
async def main():
    prefork = Prefork(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
    prefork.start()
    assert await prefork.until_ready(120)
    print(prefork.process.pid, flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


def test_the_zygote_goes_when_its_kernel_dies(short_dir, tmp_path) -> None:
    """A kernel that crashes is restarted by PID 1 with a zygote of its own: the old one must not stay."""
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, str(short_dir / "z.sock"), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert kernel.stdout is not None
        zygote = int(kernel.stdout.readline())
        assert alive(zygote)
        kernel.kill()
        kernel.wait(10)
        deadline = time.monotonic() + 20
        while alive(zygote):
            assert time.monotonic() < deadline, "the zygote outlived its kernel"
            time.sleep(0.05)
    finally:
        kernel.kill()


def test_every_preload_names_a_module_and_an_existing_warm_up() -> None:
    for entries in zygote.PRELOADS.values():
        for entry in entries:
            module, _, function = entry.partition(":")
            loaded = importlib.import_module(module)
            assert not function or callable(getattr(loaded, function)), entry


def test_a_failing_warm_up_is_logged_and_the_zygote_goes_on(caplog) -> None:
    def broken() -> None:
        raise OSError("no fonts here")

    with caplog.at_level(logging.WARNING, logger="llmos.sandbox.zygote"):
        zygote.warm_up("fonts", broken)  # does not raise
    assert "warm-up fonts failed (OSError: no fonts here)" in caplog.text


def test_until_loaded_tells_a_zygote_that_came_up_from_one_that_failed(short_dir, wasm_cache) -> None:
    """The kernel's warm-up waits on this when there is no compiled guest yet: it must return when the
    zygote fails, not only when it is ready."""
    async def scenario() -> None:
        assert not await Prefork(short_dir / "none.sock").until_loaded()  # never started: no wait
        failing = Prefork(short_dir / "bad.sock", preload=("no-such-renderer",))  # argparse refuses it
        failing.start()
        try:
            assert not await asyncio.wait_for(failing.until_loaded(), 60)
        finally:
            await failing.stop()
        working = Prefork(short_dir / "good.sock", cache_dir=wasm_cache)
        working.start()
        try:
            assert await asyncio.wait_for(working.until_loaded(), 120)
            assert working.ready
        finally:
            await working.stop()
    run(scenario, 180)
