"""Fixtures that boot the real image in QEMU (TCG here, KVM where it works) and drive it over QMP.

`machine` is one booted VM shared by the read-only checks of a test session, so each TCG boot (~30 s) is
paid once; it is booted again when a test left it unusable (QEMU gone, the agent silent). Tests that power
off, reboot or change the disk boot VMs of their own with `boot()`; those are stopped as soon as the test
ends, pass or fail, so a failed test's QEMU never slows the tests after it.

Every wait goes through `pace.scaled()`: the first boot measures how much slower than the reference this
machine runs the guest. A failed test's report carries the guest's service logs (`guest.service_logs`).

`networked` is a second shared VM, for the tests that reach real servers on the host through QEMU's user
network (the host is 10.0.2.2 there): it boots with the host's llama_cpp.server (`llama_host`) named in
boot credentials, as a fleet machine would be (docs/fleet.md), and the registry tests pull from git
servers on the host. Its tests change its state, so it is kept apart from `machine`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from kernel.gateway.llama_server import KEY as LLAMA_KEY
from kernel.gateway.llama_server import LlamaServer

from llmos.host import image
from llmos.host.vm import BuiltImage, VirtualMachine

from .guest import service_logs
from .hostnet import server_credentials
from .pace import FIRST_BOOT_S, PACE, budget, scaled

BOOT_S = 180.0  # a boot after the first, at the reference speed; KVM boots in a few seconds
AGENT_S = 60.0  # from `llmos: ready` to the guest agent answering
PING_S = 15.0  # an idle guest's agent answers a ping well within this
LOGS_S = 10.0  # per `llmos logs` call when a failed test's report gathers them
USED = pytest.StashKey[list[VirtualMachine]]()  # the VMs a test used: their logs go into its failure report

Boot = Callable[..., VirtualMachine]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/vm/" in str(item.fspath):
            item.add_marker(pytest.mark.vm)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """pytest-timeout's per-test limit, scaled like every wait (it reads the marker when the test starts)."""
    if item.get_closest_marker("vm") is not None:
        item.add_marker(pytest.mark.timeout(budget()), append=False)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed VM test explains itself: its guests' service logs (or serial consoles) join the report."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        timeout = scaled(LOGS_S) if PACE.factor is not None else LOGS_S
        for machine in item.stash.get(USED, []):
            report.sections.append((f"guest logs ({machine.directory.name})", service_logs(machine, timeout)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if PACE.ready_s is not None:
        terminalreporter.write_line(PACE.describe())


class Booter:
    """Boots VMs of the built image to `llmos: ready` with the guest agent answering."""

    def __init__(self, built: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.built = built
        self.tmp_path_factory = tmp_path_factory

    def start(self, owned: list[VirtualMachine], wait_ready: bool = True,
              **options: object) -> VirtualMachine:
        """`owned` gets the VM before it starts, so whoever owns it stops it even if the boot fails."""
        options.setdefault("image", self.built)
        options.setdefault("workdir", self.tmp_path_factory.mktemp("vm"))
        machine = VirtualMachine(**options)  # type: ignore[arg-type]
        owned.append(machine)
        machine.start()
        if wait_ready:
            first = PACE.factor is None
            machine.wait_for(r"llmos: ready", FIRST_BOOT_S if first else scaled(BOOT_S))
            if first:
                PACE.measure(time.monotonic() - machine.started_at)
                print(PACE.describe(), flush=True)
            machine.wait_agent(scaled(AGENT_S))
        return machine


class SharedMachine:
    """The session's one read-only VM, booted on first use and again whenever a test left it unusable."""

    def __init__(self, booter: Booter, **options: object) -> None:
        self.booter = booter
        self.options = options  # VirtualMachine options of every boot (e.g. extra QEMU arguments)
        self.machines: list[VirtualMachine] = []

    def get(self) -> VirtualMachine:
        current = self.machines[-1] if self.machines else None
        if current is not None and not current.responsive(scaled(PING_S)):
            print(f"the shared VM stopped answering; booting another{current.tail(20)}", flush=True)
            current.close()
            current = None
        return current or self.booter.start(self.machines, **self.options)

    def get_for(self, request: pytest.FixtureRequest) -> VirtualMachine:
        """get(), with the VM in the test's failure report (also one that failed to boot)."""
        try:
            return self.get()
        finally:
            request.node.stash.setdefault(USED, []).extend(self.machines[-1:])

    def close(self) -> None:
        for machine in self.machines:
            machine.close()


@pytest.fixture(scope="session")
def built_image() -> BuiltImage:
    image.ensure_built("qemu")
    return BuiltImage.find("qemu", Path(image.REPO) / "build" / "images" / "qemu")


@pytest.fixture(scope="session")
def booter(built_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Booter:
    return Booter(built_image, tmp_path_factory)


@pytest.fixture(scope="session")
def shared(booter: Booter) -> Iterator[SharedMachine]:
    machines = SharedMachine(booter)
    yield machines
    machines.close()


@pytest.fixture(scope="session")
def speed(shared: SharedMachine) -> float:
    """The speed factor, booting the shared VM to measure it if no boot has yet (tests that boot no
    `llmos: ready` image of their own, such as UEFI or USB boots, need it for their waits)."""
    if PACE.factor is None:
        shared.get()
    assert PACE.factor is not None
    return PACE.factor


@pytest.fixture
def machine(shared: SharedMachine, request: pytest.FixtureRequest) -> VirtualMachine:
    return shared.get_for(request)


@pytest.fixture
def boot(booter: Booter, request: pytest.FixtureRequest) -> Iterator[Boot]:
    """Boot VMs for this test only: they are stopped when it ends."""
    owned: list[VirtualMachine] = []

    def start(wait_ready: bool = True, **options: object) -> VirtualMachine:
        if not wait_ready and PACE.factor is None:
            request.getfixturevalue("speed")  # this boot's own waits need the factor
        before = len(owned)
        try:
            return booter.start(owned, wait_ready, **options)
        finally:  # a VM that failed to boot is in the report too
            request.node.stash.setdefault(USED, []).extend(owned[before:])

    yield start
    for machine in owned:
        machine.close()


# -- the networked VM: real servers on the host, reached from the guest at 10.0.2.2 ----------------------
@pytest.fixture(scope="session")
def llama_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama-cpp-python's OpenAI-compatible server on the host's 127.0.0.1, serving the embedded GGUF
    (the same server tests/kernel/gateway runs); the guest reaches it at 10.0.2.2."""
    from llmos.kernel.gateway import model as model_files
    from llmos.settings import GatewaySettings

    model = model_files.locate(GatewaySettings()).path
    server = LlamaServer(model, tmp_path_factory.mktemp("llama-host") / "server.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def networked_vms(booter: Booter, llama_host: LlamaServer) -> Iterator[SharedMachine]:
    machines = SharedMachine(booter, extra_args=server_credentials(llama_host, LLAMA_KEY))
    yield machines
    machines.close()


@pytest.fixture
def networked(networked_vms: SharedMachine, request: pytest.FixtureRequest) -> VirtualMachine:
    """The shared VM booted with the host's inference server in its boot credentials (hostnet.py)."""
    return networked_vms.get_for(request)
