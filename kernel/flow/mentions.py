"""Whether the user's request named the website an app asks to talk to.

Why: the approval dialog says "Talk to the website evil.example", and a person who asked for "a weather
app" may not notice that nothing they wrote pointed there. So the flow compares every network ask with
the request and, when the request never named the site, the ask carries a warning the dialog shows
plainly. Deterministic and generous: the site counts as mentioned when the request contains its host,
or its name (the label before the domain's suffix: "open-meteo" for api.open-meteo.com, also written
"open meteo" or "openmeteo"). A numeric address counts only when written out.
"""

from __future__ import annotations

import re

from llmos.api import Ask

# Second-level labels under a country code that are suffixes, not names: bbc.co.uk is named "bbc".
_SUFFIX_LABELS = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go"})
_WORD = re.compile(r"[a-z0-9]+")


def host_of_scope(scope: str) -> str | None:
    """The host of a network:HOST[:PORT] scope; None for other scopes and for network:*."""
    kind, _, arg = scope.partition(":")
    if kind != "network" or not arg or arg == "*":
        return None
    return arg.rpartition(":")[0] if re.search(r":\d+$", arg) else arg


def site_name(host: str) -> str:
    """The label that names the site: "weather" for api.weather.example, "bbc" for news.bbc.co.uk."""
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in _SUFFIX_LABELS and len(labels[-1]) == 2:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else labels[0]


def mentions(request: str, host: str) -> bool:
    """Whether `request` names the site `host` (see the module's docstring for what counts)."""
    text = request.casefold()
    if host in text:
        return True
    if re.fullmatch(r"[0-9.]+|0x[0-9a-f.x]+", host):
        return False
    words = _WORD.findall(text)
    name = site_name(host).split("-")
    joined = "".join(name)
    return any(words[i:i + len(name)] == name for i in range(len(words))) or joined in words


def warning(scope: str, request: str) -> str:
    """The caution for an ask: empty unless it is a site the request never mentioned."""
    host = host_of_scope(scope)
    if host is None or mentions(request, host):
        return ""
    return f"Talk to {host} — your request did not mention this site"


def with_warnings(asks: list[Ask], request: str) -> list[Ask]:
    """The asks, each network one carrying its warning when `request` never named its site."""
    return [Ask(a.scope, a.words, a.required, warning(a.scope, request)) for a in asks]
