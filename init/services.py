"""The service table: what PID 1 runs, in which order, and when each service counts as ready.

The table is data, not code, so that llmos.toml can switch services off or change their limits and
tests can replace the whole table with a small file (env LLMOS_SERVICES, TOML or JSON).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from llmos import paths
from llmos.config import Config, ConfigProblem
from llmos.init.cgroups import CPU_WEIGHT_DEFAULT

READY_KINDS = ("socket", "path", "none")
RESTART_POLICIES = ("on-failure", "no")
_SIZE = re.compile(r"^(max|\d+[KMGT]?)$")


@dataclass(frozen=True)
class Ready:
    """When a started service counts as ready.

    socket: its Unix socket accepts connections (arg: a service name for paths.socket_path, or a path);
    path: a file exists (arg: the path); none: as soon as it runs. A oneshot is ready when it exits 0.
    """

    kind: str = "none"
    arg: str = ""

    def target(self) -> Path:
        if self.kind == "socket" and "/" not in self.arg:
            return paths.socket_path(self.arg)
        return Path(self.arg)


@dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]
    requires: tuple[str, ...] = ()
    # Started at once, beside these; PID 1 tells the service on $LLMOS_AWAIT_FD when they have settled
    # (init/awaited.py), so its slow start (imports) overlaps theirs and it waits only where it must.
    awaits: tuple[str, ...] = ()
    # Started only once each of these has come up or failed (ordering alone: how it ends does not
    # matter, and a failure does not hold this one back). Under TCG, Python services that start side by
    # side each take longer than they do one after another (docs/PERFORMANCE.md).
    after: tuple[str, ...] = ()
    ready: Ready = Ready()
    ready_timeout: float = 60.0  # Python services under TCG take seconds to import
    memory_max: str = "max"
    pids_max: str = "max"
    cpu_weight: int = CPU_WEIGHT_DEFAULT  # cgroup cpu.weight, 1-10000: its CPU share against busy neighbours
    oneshot: bool = False
    restart: str = "on-failure"  # exit 0 = done, 125 = do not restart, anything else = restart
    condition: str = ""  # "cmdline:llmos.agent=1" or "config:section.key"; empty = always
    environment: dict[str, str] = field(default_factory=dict)
    user: str = ""
    stop_timeout: float = 5.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    give_up_count: int = 5  # this many failures within give_up_window seconds: state "failed"
    give_up_window: float = 60.0
    enabled: bool = True

    @property
    def dependencies(self) -> tuple[str, ...]:
        """What it must not outlive at shutdown, nor form a cycle with: the services it requires, awaits
        or starts after."""
        return self.requires + self.awaits + self.after


DEPENDENCY_KEYS = ("requires", "awaits", "after")  # the Service fields that name other services


def _python(module: str) -> tuple[str, ...]:
    return ("python3", "-m", module)


# Never fails (the compositor then opens what there is); `timeout` bounds a driver that hangs its probe,
# and the controllers are triggered side by side, so one that hangs does not hold up the others.
# LLMOS_SYSFS: another sysfs root, for tests.
DISPLAY_COLDPLUG = """
found=""
for device in "${LLMOS_SYSFS:-/sys}"/bus/pci/devices/*; do
    case "$(cat "$device/class" 2>/dev/null)" in
    0x03*) found=1
           timeout 60 udevadm trigger --settle --action=add --parent-match="$(readlink -f "$device")" & ;;
    esac
done
wait
[ -n "$found" ] || timeout 60 udevadm trigger --settle --action=add --type=devices
exit 0
"""

DEFAULT: tuple[Service, ...] = (
    # udevd's workers do coldplug's work (rules, modprobe), which the display waits for: at boot they
    # run before hal and growfs, like the compositor.
    Service("udevd", ("/usr/lib/systemd/systemd-udevd",), ready=Ready("path", "/run/udev/control"),
            ready_timeout=30.0, cpu_weight=400),
    # The display's drivers first, so the compositor can open its output before the rest of coldplug
    # is done: each PCI display controller (class 0x03) and the devices under it (virtio-gpu's), side
    # by side, waiting for all. A machine without one (a display that is not on PCI) triggers every
    # device here, and the compositor waits for all of that, as before; udev-coldplug then triggers
    # them a second time, which costs that machine one more pass of the rules.
    Service("udev-display", ("/bin/sh", "-c", DISPLAY_COLDPLUG), requires=("udevd",), oneshot=True),
    Service("udev-coldplug", ("/bin/sh", "-c",
                              "udevadm trigger --type=subsystems --action=add && "
                              "udevadm trigger --type=devices --action=add && udevadm settle --timeout=60"),
            requires=("udev-display",), oneshot=True, ready_timeout=120.0),
    # hal and the kernel start once the compositor has come up (or failed), and growfs once the kernel
    # has: under TCG the shell was on screen sooner, and hal and the kernel were ready sooner too,
    # than with all of them starting side by side (docs/PERFORMANCE.md, 2026-12-05). Nothing waits
    # for growfs (it grows the data partition on the first boot, and finds nothing to do after).
    Service("growfs", _python("llmos.init.growfs"), after=("kernel",), oneshot=True,
            ready_timeout=300.0, cpu_weight=25),
    Service("hal", _python("llmos.hal"), after=("compositor",), ready=Ready("socket", "hal"),
            memory_max="256M"),
    # The compositor opens its display once udev has loaded its drivers (i915, amdgpu...; otherwise it
    # takes simpledrm or headless), and it imports its code meanwhile: it awaits udev-display rather than
    # requiring it. It does not wait for hal: it follows hal's input events once hal is up.
    # It draws what the user sees, so under contention it runs before hal, growfs, the kernel and the
    # app hosts (whose llmos/apps cgroup weighs less still).
    Service("compositor", _python("llmos.compositor"), awaits=("udev-display",),
            ready=Ready("socket", "compositor"), memory_max="512M", cpu_weight=400),
    # The kernel starts once the compositor has come up or failed (`after`, above), at a quarter of
    # its CPU weight. It also awaits the compositor, for where it needs the display (a kiosk's app):
    # a compositor that failed once and is restarting has not settled yet. App windows go headless
    # until the compositor's socket exists.
    # One BLAS thread: the sentence encoder's small products (kernel/applang/encoder.py) ran 6x slower
    # with OpenBLAS's threads spinning against llama.cpp's on shared cores.
    Service("kernel", _python("llmos.kernel"), after=("compositor",), awaits=("compositor",),
            ready=Ready("socket", "kernel"), memory_max="2G", environment={"OPENBLAS_NUM_THREADS": "1"}),
    # The agent's virtio-serial port appears once coldplug has loaded virtio_console.
    Service("agent", _python("llmos.init.agent"), requires=("udev-coldplug",),
            condition="cmdline:llmos.agent=1", memory_max="128M"),
    # Scheduled updates ([update] url, docs/update.md), once coldplug has loaded the disks' drivers.
    Service("update", _python("llmos.update.schedule"), requires=("udev-coldplug",),
            condition="config:update.url", memory_max="256M"),
)


@dataclass
class ServiceTable:
    """The services PID 1 runs, in declaration order, with the problems found reading them."""

    services: list[Service]
    problems: list[ConfigProblem] = field(default_factory=list)

    def get(self, name: str) -> Service | None:
        return next((service for service in self.services if service.name == name), None)


_FIELDS = {f.name: f for f in fields(Service)}


def parse_service(raw: Any, where: str) -> tuple[Service | None, list[ConfigProblem]]:
    """Build one Service from a mapping; every problem names the entry and key."""
    problems: list[ConfigProblem] = []
    if not isinstance(raw, dict):
        return None, [ConfigProblem(where, "expected a table")]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _FIELDS:
            problems.append(ConfigProblem(f"{where}.{key}", "unknown key"))
            continue
        values[key] = value
    name, argv = values.get("name"), values.get("argv")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        return None, [*problems, ConfigProblem(f"{where}.name", "expected a name of [A-Za-z0-9_.-]")]
    if isinstance(argv, str):
        argv = ["/bin/sh", "-c", argv]
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return None, [*problems, ConfigProblem(f"{where}.argv", "expected a non-empty list of strings")]
    values["argv"] = tuple(argv)
    for key in DEPENDENCY_KEYS:
        names = values.get(key, [])
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            problems.append(ConfigProblem(f"{where}.{key}", "expected a list of service names"))
            names = []
        values[key] = tuple(names)
    ready = values.get("ready", "none")
    if isinstance(ready, str):
        kind, _, arg = ready.partition(":")
        ready = {"kind": kind, "arg": arg}
    if not isinstance(ready, dict) or ready.get("kind") not in READY_KINDS:
        problems.append(ConfigProblem(f"{where}.ready", f"kind must be one of {', '.join(READY_KINDS)}"))
        ready = {"kind": "none"}
    values["ready"] = Ready(str(ready.get("kind")), str(ready.get("arg", "")))
    try:
        service = Service(**values)
    except TypeError as error:
        return None, [*problems, ConfigProblem(where, str(error))]
    return _checked(service, where, problems)


def _size(raw: object, where: str, problems: list[ConfigProblem], fallback: str) -> str:
    value = str(raw)
    if not _SIZE.match(value):
        problems.append(ConfigProblem(where, f"expected 'max' or a size like 512M, got {value!r}"))
        value = fallback
    return value


def _checked(service: Service, where: str, problems: list[ConfigProblem],
             defaults: Service | None = None) -> tuple[Service | None, list[ConfigProblem]]:
    """The service with each bad value reported and replaced by `defaults`' (the table's own entry when
    llmos.toml overrides it, else the field's default)."""
    defaults = defaults or Service("x", ("x",))
    for key in ("ready_timeout", "stop_timeout", "backoff_initial", "backoff_max", "give_up_window"):
        value = getattr(service, key)
        if not isinstance(value, int | float) or value <= 0:
            problems.append(ConfigProblem(f"{where}.{key}", f"expected a positive number, got {value!r}"))
            service = replace(service, **{key: getattr(defaults, key)})
    # cgroup files take text, whatever TOML gave
    memory_max = _size(service.memory_max, f"{where}.memory_max", problems, defaults.memory_max)
    pids_max = _size(service.pids_max, f"{where}.pids_max", problems, defaults.pids_max)
    service = replace(service, memory_max=memory_max, pids_max=pids_max)
    weight = service.cpu_weight
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 10000:
        problems.append(ConfigProblem(f"{where}.cpu_weight", f"expected an integer 1-10000, got {weight!r}"))
        service = replace(service, cpu_weight=defaults.cpu_weight)
    if service.restart not in RESTART_POLICIES:
        problems.append(ConfigProblem(f"{where}.restart", f"expected one of {', '.join(RESTART_POLICIES)}"))
        service = replace(service, restart="on-failure")
    if service.condition and service.condition.partition(":")[0] not in ("cmdline", "config"):
        problems.append(ConfigProblem(f"{where}.condition",
                                      "expected cmdline:KEY[=VALUE] or config:SECTION.KEY"))
    environment = service.environment
    if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environment.items()):
        problems.append(ConfigProblem(f"{where}.environment", "expected a table of strings"))
        service = replace(service, environment={})
    return service, problems


def load_file(path: Path) -> ServiceTable:
    """A replacement table: {"services": [{...}, ...]} in TOML ([[services]]) or JSON."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        return ServiceTable([], [ConfigProblem(where, str(error))])
    entries = data.get("services") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return ServiceTable([], [ConfigProblem(where, "expected a list 'services'")])
    table = ServiceTable([])
    for index, raw in enumerate(entries):
        service, problems = parse_service(raw, f"{where}: services[{index}]")
        table.problems += problems
        if service:
            table.services.append(service)
    return table


def apply_config(services: Iterable[Service], config: Config) -> ServiceTable:
    """[services.<name>] in llmos.toml: enabled, memory_max, pids_max, cpu_weight, ready_timeout,
    stop_timeout, environment."""
    overrides = config.section("services")
    table = ServiceTable([])
    known = {service.name for service in services}
    for name in overrides:
        if name not in known:
            table.problems.append(ConfigProblem(f"services.{name}", "no such service"))
    allowed = {"enabled", "memory_max", "pids_max", "cpu_weight", "ready_timeout", "stop_timeout",
               "environment"}
    for service in services:
        override = overrides.get(service.name, {})
        if not isinstance(override, dict):
            table.problems.append(ConfigProblem(f"services.{service.name}", "expected a table"))
            override = {}
        for key in set(override) - allowed:
            table.problems.append(ConfigProblem(f"services.{service.name}.{key}", "cannot be overridden"))
        changes = {key: value for key, value in override.items() if key in allowed}
        if "enabled" in changes and not isinstance(changes["enabled"], bool):
            table.problems.append(ConfigProblem(f"services.{service.name}.enabled", "expected true or false"))
            del changes["enabled"]
        if "environment" in changes and isinstance(changes["environment"], dict):
            changes["environment"] = {**service.environment, **changes["environment"]}
        checked, problems = _checked(replace(service, **changes), f"services.{service.name}", [], service)
        table.problems += problems
        table.services.append(checked or service)
    return table


def _keeping(service: Service, keep: Callable[[str], bool]) -> Service:
    """The service with only the dependencies `keep` accepts, in every DEPENDENCY_KEYS field."""
    changes: dict[str, Any] = {key: tuple(name for name in getattr(service, key) if keep(name))
                               for key in DEPENDENCY_KEYS}
    return replace(service, **changes)


def check_requires(table: ServiceTable) -> None:
    """Unknown requirements and cycles are reported and dropped, so the rest of the table still runs.
    An awaited service, and one to start after, are dependencies too: a cycle through `awaits` or
    `after` would leave a service waiting for ever."""
    names = {service.name for service in table.services}
    fixed: list[Service] = []
    for service in table.services:
        for key in DEPENDENCY_KEYS:
            for name in getattr(service, key):
                if name not in names:
                    table.problems.append(ConfigProblem(f"{service.name}.{key}", f"no such service {name!r}"))
        fixed.append(_keeping(service, lambda name: name in names))
    by_name = {service.name: service for service in fixed}

    def leads_back(names: tuple[str, ...], target: str) -> bool:
        seen: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name == target:
                return True
            if name not in seen:
                seen.add(name)
                stack.extend(by_name[name].dependencies)
        return False

    for service in fixed:
        for key in DEPENDENCY_KEYS:
            if leads_back(getattr(service, key), service.name):  # reported under the key it leaves by
                table.problems.append(ConfigProblem(f"{service.name}.{key}", "dependency cycle; ignored"))
                by_name[service.name] = _keeping(service, lambda name: False)
                break
    table.services = [by_name[service.name] for service in fixed]


BARE_FLAG = "llmos.bare"  # llmos.bare=1 on the kernel command line: PID 1 with no services


def load(config: Config, cmdline: str = "") -> ServiceTable:
    """The table to run: LLMOS_SERVICES if set, else DEFAULT; then llmos.toml overrides. With
    `llmos.bare=1` on the command line the table is empty: the bare Python chain that `llmos bench boot`
    measures the full boot against."""
    if cmdline_flags(cmdline).get(BARE_FLAG) == "1":
        return ServiceTable([])
    source = os.environ.get("LLMOS_SERVICES")
    base = load_file(Path(source)) if source else ServiceTable(list(DEFAULT))
    table = apply_config(base.services, config)
    table.problems = base.problems + table.problems
    check_requires(table)
    return table


def cmdline_flags(text: str) -> dict[str, str]:
    flags: dict[str, str] = {}
    for word in text.split():
        key, _, value = word.partition("=")
        flags[key] = value
    return flags


def condition_met(service: Service, config: Config, cmdline: str) -> bool:
    """cmdline:KEY=VALUE (or cmdline:KEY, present at all) or config:SECTION.KEY (truthy)."""
    kind, _, arg = service.condition.partition(":")
    if not service.condition:
        return True
    if kind == "cmdline":
        key, has_value, value = arg.partition("=")
        flags = cmdline_flags(cmdline)
        return key in flags and (not has_value or flags[key] == value)
    if kind == "config":
        section, _, key = arg.partition(".")
        return bool(config.section(section).get(key))
    return False


def order(services: Iterable[Service]) -> list[Service]:
    """Dependency order (required and awaited services first), stable with respect to the table order."""
    pending = list(services)
    done: set[str] = set()
    result: list[Service] = []
    while pending:
        progress = False
        for service in list(pending):
            if all(name in done for name in service.dependencies):
                result.append(service)
                done.add(service.name)
                pending.remove(service)
                progress = True
        if not progress:  # a cycle survived check_requires: append in table order
            result += pending
            break
    return result
