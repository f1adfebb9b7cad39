"""The capability table: every scope an app can ask for, written once.

One row per scope: its pattern, the plain words the approval dialog shows, the SDK members that need
it, and whether an app may ask for it as optional. Everything else reads this table: the scope syntax
(kernel.caps.scopes), the manifest and the policy (kernel.caps.manifest, kernel.caps.policy), the usage
reader the gateway trusts and the static analysis (kernel.analysis), the approval dialog's words, and
docs/analysis.md. tests/kernel/caps/test_table.py holds sdk/js/runtime.js and sdk/ts/index.d.ts to it.

To add a scope, add a row here, then gate the member in runtime.js and say `needs <scope>` on it in
index.d.ts (the test tells you if either is missing).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(\*|{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?)$")
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# One function of one app: the app's identity (a token's app id) and the name it provides the function
# under (docs/composition.md).
_TARGET = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}/[A-Za-z_][A-Za-z0-9_]{0,63}$")


def host_of(url: str) -> str | None:
    """host[:port], lower-cased, of an absolute URL: the key the broker checks as network:HOST[:PORT].
    None when the text does not name a host (no scheme, an empty authority, a malformed URL)."""
    if "://" not in url:
        return None
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    return netloc.rpartition("@")[2].lower() or None


def channel_of(text: str) -> str | None:
    """The text itself when it is a valid bus channel name."""
    return text if _CHANNEL.fullmatch(text) else None


def target_of(text: str) -> str | None:
    """The text itself when it names one function of one app, APP/FUNCTION."""
    return text if _TARGET.fullmatch(text) else None


@dataclass(frozen=True)
class Argument:
    """The variable part of a parameterised scope, such as the HOST of network:HOST."""

    placeholder: str  # as written in the pattern, e.g. "HOST"
    syntax: re.Pattern[str]  # what a granted argument looks like ("*" only if the syntax allows it)
    rule: str  # that syntax in words, for errors
    any_words: str  # the plain words for the wildcard argument "*"
    needs: str  # what a call must pass for the argument to be known before launch
    read: Callable[[str], str | None]  # a call's static first argument -> the scope's argument

    def fill(self, words: str, value: str) -> str:
        """`words` with the placeholder replaced by `value`; a placeholder of several parts (APP/FUNCTION)
        takes the value's parts in order, so the words can name each where it reads best."""
        names = self.placeholder.split("/")
        for name, part in zip(names, value.split("/", len(names) - 1), strict=False):
            words = words.replace(name, part)
        return words


@dataclass(frozen=True)
class ScopeRow:
    """One scope an app can hold."""

    pattern: str  # "timer", or "network:HOST" where the upper-case tail is the argument
    words: str  # plain words for people who have never heard of a capability; the placeholder is filled
    members: tuple[str, ...]  # SDK members that need it: "ns.member", or "ns.*" for the rest of ns
    can_be_optional: bool = True  # False: an app cannot work without it, so it is always required
    argument: Argument | None = None

    @property
    def kind(self) -> str:
        return self.pattern.partition(":")[0]

    def scope(self, static_argument: str | None = None) -> str | None:
        """The concrete scope a call needs, given the call's first argument as far as it is known
        before launch; None when the row takes an argument and that is unknown."""
        if self.argument is None:
            return self.pattern
        value = self.argument.read(static_argument) if static_argument is not None else None
        return f"{self.kind}:{value}" if value else None

    def describe(self, scope: str) -> str:
        if self.argument is None:
            return self.words
        arg = scope.partition(":")[2]
        return self.argument.any_words if arg == "*" else self.argument.fill(self.words, arg)


NETWORK = Argument("HOST", _HOST, "a lower-case host name (or *)", "Talk to any website on the internet",
                   "a literal https:// URL so its host is known before launch", host_of)
BUS = Argument("CHANNEL", _CHANNEL, "a channel of [a-z0-9._-], max 64",
               "Exchange messages with any other app", "a literal channel name", channel_of)
APP_FUNCTION = Argument("APP/FUNCTION", _TARGET, "an app's identity, '/', and a function it provides",
                        "Use any function of any other app", "a literal 'APP/FUNCTION' target", target_of)

TABLE: tuple[ScopeRow, ...] = (
    ScopeRow("ui:window", "Show a window on the screen", ("ui.*",), can_be_optional=False),
    ScopeRow("notify", "Show notifications", ("ui.notify",)),
    ScopeRow("storage:local", "Keep its own data on this device",
             ("storage.get", "storage.set", "storage.remove", "storage.keys", "storage.useLocal")),
    ScopeRow("timer", "Run timers in the background", ("timer.useInterval", "timer.useTimeout")),
    ScopeRow("clipboard:read", "Read what you copied to the clipboard", ("clipboard.read",)),
    ScopeRow("clipboard:write", "Put text on the clipboard", ("clipboard.write",)),
    ScopeRow("network:HOST", "Talk to the website HOST", ("net.fetch",), argument=NETWORK),
    ScopeRow("bus:CHANNEL", "Exchange messages on channel 'CHANNEL'",
             ("bus.publish", "bus.subscribe", "bus.useSubscription"), argument=BUS),
    ScopeRow("app:APP/FUNCTION", "Use the function 'FUNCTION' of your app APP", ("apps.call",),
             argument=APP_FUNCTION),
)

# SDK members that need no scope at all ("ns.*" for a whole namespace). A namespace named neither here
# nor in TABLE is not part of the SDK, and the gateway refuses code that calls it.
# apps.provide offers this app's own functions: other apps reach them only with a grant of their own.
UNGATED: tuple[str, ...] = ("caps.*", "clock.*", "random.*", "format.*", "apps.provide")

_BY_MEMBER = {member: row for row in TABLE for member in row.members}
_FIXED = {row.pattern: row for row in TABLE if row.argument is None}
_PARAMETERISED = {row.kind: row for row in TABLE if row.argument is not None}


def _whole_namespaces() -> dict[str, ScopeRow]:
    """Namespaces whose members only one row names: the runtime gates such a namespace as a whole."""
    rows: dict[str, list[ScopeRow]] = {}
    for member, row in _BY_MEMBER.items():
        named = rows.setdefault(member.partition(".")[0], [])
        if row not in named:
            named.append(row)
    return {namespace: named[0] for namespace, named in rows.items() if len(named) == 1}


_WHOLE = _whole_namespaces()


def needed_by(namespace: str, member: str) -> ScopeRow | None:
    """The row an SDK member needs: the row naming `namespace.member`, else the one naming `namespace.*`,
    else the one row that names members of `namespace` (storage.anything needs storage:local). None for
    members that need nothing (UNGATED, even in a namespace a row names), and where rows disagree about a
    namespace (clipboard.other)."""
    if is_ungated(namespace, member):
        return None
    return (_BY_MEMBER.get(f"{namespace}.{member}") or _BY_MEMBER.get(f"{namespace}.*")
            or _WHOLE.get(namespace))


def is_ungated(namespace: str, member: str) -> bool:
    return f"{namespace}.{member}" in UNGATED or f"{namespace}.*" in UNGATED


def row_of(scope: str) -> ScopeRow | None:
    """The row a scope belongs to: a fixed scope's own, or its kind's (network:api.example.com ->
    network:HOST). Whether the scope is well formed is kernel.caps.scopes.parse_scope's question."""
    return _FIXED.get(scope) or _PARAMETERISED.get(scope.partition(":")[0])


# Names the system itself uses: its services, and the first part of every name the kernel, compositor,
# hal and init publish on or serve (pushed events such as caps.revoked and bus.message, methods such as
# caps.revoke and flow.approve). A bus channel whose first part (up to '.', '-' or '_') is one of these is
# never granted, so no app can pose as the system, and no app's ask can look like a system power.
# tests/kernel/caps/test_reserved.py scans the code and fails when a name the services use is missing here.
RESERVED_CHANNELS = frozenset({
    "kernel", "llmos", "system", "compositor", "hal", "init", "shell", "admin",   # the services
    "app", "apps", "caps", "flow", "gateway", "settings", "bus",                 # the kernel's methods
    # the events they publish
    "error", "stopped", "tree", "notify", "shortcut", "window", "input", "device", "lease", "link", "log",
})


def reserved(scope: str) -> str | None:
    """Why a well-formed scope can never be granted, in plain words; None for an ordinary scope.
    Reserved: the system's own bus channels, and websites that are this machine or its local network
    (the kernel fetches for apps, so such a host would reach the kernel's own neighbourhood)."""
    kind, _, arg = scope.partition(":")
    if kind == "bus" and arg != "*" and re.split(r"[._-]", arg, maxsplit=1)[0] in RESERVED_CHANNELS:
        return f"'{arg}' is a channel name the system itself uses"
    if kind == "network" and arg != "*":
        host = arg.rpartition(":")[0] if re.search(r":\d+$", arg) else arg
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is this machine"
        address = _ipv4(host)
        if address is not None and not address.is_global:
            return f"{host} is this machine or its local network"
    return None


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a numeric host stands for, in every form the C library accepts (127.1, 2130706433,
    0x7f.0.0.1); None for a name."""
    if not re.fullmatch(r"[0-9a-fx.]+", host) or not all(re.fullmatch(r"0x[0-9a-f]+|[0-9]+", label)
                                                         for label in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def fixed_scopes() -> frozenset[str]:
    """The scopes that take no argument."""
    return frozenset(row.pattern for row in TABLE if row.argument is None)


def every_scope() -> tuple[str, ...]:
    """Each row at its widest: network:* and bus:* for the parameterised ones."""
    return tuple(row.pattern if row.argument is None else f"{row.kind}:*" for row in TABLE)


def describe(scope: str) -> str:
    """The capability in plain words, for people who have never heard of a capability."""
    row = row_of(scope)
    return row.describe(scope) if row is not None else f"Use {scope}"


def markdown() -> str:
    """The table as the docs show it (docs/analysis.md holds this text verbatim; a test checks)."""
    lines = ["| scope | in plain words | SDK members that need it | may be optional |", "|---|---|---|---|"]
    for row in TABLE:
        words = row.words
        if row.argument is not None:
            words += f"; `{row.kind}:*`: {row.argument.any_words}"
        members = ", ".join(f"`{member}`" for member in row.members)
        lines.append(f"| {row.pattern} | {words} | {members} | {'yes' if row.can_be_optional else 'no'} |")
    ungated = ", ".join(f"`{member}`" for member in UNGATED)
    lines.append(f"| (none) | nothing to ask | {ungated} | - |")
    return "\n".join(lines)
