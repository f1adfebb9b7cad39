"""The capability authority: mints Biscuit tokens, attenuates them, verifies them fully (signature +
Datalog with explicit limits) and answers the cheap per-call check.

Why two levels of checking: a full Biscuit authorization costs ~370 µs, several times a QuickJS host
call, so it runs at launch and whenever the token or the revocation list changes. Every call then
does only expiry-vs-clock, a revocation-id set lookup and scope membership against the cached grant.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from biscuit_auth import (
    AuthorizationError,
    Authorizer,
    AuthorizerBuilder,
    Biscuit,
    BiscuitBuilder,
    BlockBuilder,
    KeyPair,
    Rule,
)

from llmos import paths
from llmos.kernel.caps.audit import AuditLog
from llmos.kernel.caps.keys import load_or_create_root_key
from llmos.kernel.caps.revocation import RevocationStore
from llmos.kernel.caps.scopes import parse_scope, scope_allows

log = logging.getLogger("llmos.caps")

APP_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DATE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
_EXPIRY = re.compile(r"check if time\(\$t\), \$t < (" + _DATE + ");")

# The authorizer always states the time: the `check if time($t)` here makes an authorizer that lost
# its time fact deny everything, so the token's expiry check can never be skipped.
AUTHORIZER_CODE = "time({now}); operation({op}); check if time($t); allow if operation($op), right($op);"


class Denied(Exception):
    """A capability check failed. `code` is stable (forged, expired, revoked, scope, widen, limits,
    malformed); `message` says why in words."""

    def __init__(self, code: str, message: str, app: str = "?") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.app = app


@dataclass(frozen=True)
class Limits:
    """Datalog limits for one authorization; exceeding them is a denial, never a grant."""

    max_facts: int = 1000
    max_iterations: int = 100
    max_time: timedelta = timedelta(milliseconds=50)


@dataclass(frozen=True)
class Grant:
    """What a fully verified token allows; cached for the cheap per-call checks."""

    app_id: str
    scopes: frozenset[str]
    expires: datetime
    revocation_ids: tuple[str, ...]
    revocation_version: int
    verified_at: float  # time.monotonic()

    def allows(self, scope: str) -> bool:
        return scope_allows(self.scopes, scope)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Authority:
    """One per kernel. Holds the root key pair, the revocation list and the audit log."""

    REVERIFY_AFTER = 300.0  # seconds; also re-verify periodically in case a block holds odd checks
    CACHE_SIZE = 4096

    def __init__(self, keypair: KeyPair, revocations: RevocationStore, audit: AuditLog,
                 limits: Limits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.keypair = keypair
        self.public_key = keypair.public_key
        self.revocations = revocations
        self.audit = audit
        self.limits = limits or Limits()
        self.clock = clock  # the wall clock every call's expiry check reads (a seam for tests)
        self._grants: OrderedDict[str, Grant] = OrderedDict()

    # -- minting and attenuation --------------------------------------------------------------
    def mint(self, app_id: str, scopes: list[str], ttl: timedelta = timedelta(days=30)) -> str:
        if not APP_ID.match(app_id):
            raise ValueError(f"app id {app_id!r}: use [a-z0-9][a-z0-9._-]{{0,63}}")
        checked = sorted({parse_scope(scope) for scope in scopes})
        code = "app({app});\n" + "".join(f"right({{r{i}}});\n" for i in range(len(checked)))
        code += "check if time($t), $t < {exp};"
        params: dict[str, object] = {"app": app_id, "exp": utcnow() + ttl}
        params.update({f"r{i}": scope for i, scope in enumerate(checked)})
        token = BiscuitBuilder(code, params).build(self.keypair.private_key).to_base64()
        self.audit.record(app_id, f"caps.mint {','.join(checked)}", "allow", f"ttl {ttl}")
        return token

    def attenuate(self, token: str, scopes: list[str], ttl: timedelta | None = None) -> str:
        """Derive a token that allows only `scopes` (a subset of the parent's). Asking for more fails."""
        grant = self.verify(token, now=utcnow())
        wanted = {parse_scope(scope) for scope in scopes}
        extra = wanted - grant.scopes
        if extra:
            error = Denied("widen", f"attenuation cannot add {sorted(extra)}; the token grants only "
                                    f"{sorted(grant.scopes)}", grant.app_id)
            self._deny(error, f"caps.attenuate {','.join(sorted(wanted))}")
            raise error
        code = "check if operation($op), {allowed}.contains($op);"
        params: dict[str, object] = {"allowed": wanted}
        if ttl is not None:
            code += "\ncheck if time($t), $t < {exp};"
            params["exp"] = min(utcnow() + ttl, grant.expires)
        parent = Biscuit.from_base64(token, self.public_key)
        child = parent.append(BlockBuilder(code, params)).to_base64()
        self.audit.record(grant.app_id, f"caps.attenuate {','.join(sorted(wanted))}", "allow", "")
        return child

    def for_call(self, token: str, caller: str, call: str, until: datetime) -> str:
        """The token an app serves one call from another app under (kernel/sandbox/compose.py): its own
        token with a block naming the caller and the call, expiring when the call's time is up. It holds
        only the callee's own rights (a later block adds none), so the callee can do nothing its own grants
        do not allow and nothing of the caller's; revoking the callee's token revokes it too."""
        if not APP_ID.match(caller):
            raise ValueError(f"caller {caller!r} is not an app id")
        # Biscuit dates are whole seconds: round up, so the token never dies before its call does.
        expires = until.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        code = "caller({caller});\ncall({call});\ncheck if time($t), $t < {exp};"
        parent = Biscuit.from_base64(token, self.public_key)
        return parent.append(BlockBuilder(code, {"caller": caller, "call": call, "exp": expires})).to_base64()

    def caller_of(self, token: str) -> str | None:
        """The caller a call token (for_call) names in its last block; None for any other token. The
        signature is checked, but anyone holding a token can append a block: the kernel trusts the caller
        it recorded for the call, and this is what the token tells the callee's side."""
        try:
            biscuit = Biscuit.from_base64(token, self.public_key)
        except Exception:
            return None
        match = re.search(r'^caller\("([^"]*)"\);', biscuit.block_source(biscuit.block_count() - 1), re.M)
        return match.group(1) if match else None

    def revoke(self, token: str, reason: str = "") -> list[str]:
        """Revoke a token (and every token derived from it). Returns the ids added to the list."""
        try:
            biscuit = Biscuit.from_base64(token, self.public_key)
        except Exception as error:
            raise Denied("forged", "cannot revoke a token this kernel did not sign") from error
        first = biscuit.revocation_ids[-1]  # the token's own last block: derived tokens share the prefix
        self.revocations.revoke(first, reason)
        self._grants.clear()
        app = self._app_of(biscuit)
        self.audit.record(app, "caps.revoke", "allow", reason)
        return [first]

    def revoke_id(self, revocation_id: str, reason: str = "") -> bool:
        added = self.revocations.revoke(revocation_id, reason)
        self._grants.clear()
        return added

    # -- verification --------------------------------------------------------------------------
    def verify(self, token: str, *, now: datetime) -> Grant:
        """Full check: signature, revocation, Datalog authorization of each right with the time fact.
        Raises Denied (and audits it) on any failure."""
        try:
            return self._verify(token, now)
        except Denied as error:
            self._deny(error, "caps.verify")
            raise

    def _verify(self, token: str, now: datetime) -> Grant:
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise TypeError("verify() needs a timezone-aware `now`: the time fact is never optional")
        if not isinstance(token, str) or not token:
            raise Denied("malformed", "no token given")
        try:
            biscuit = Biscuit.from_base64(token, self.public_key)
        except Exception as error:
            raise Denied("forged", f"signature check failed (not signed by this kernel's root key, "
                                   f"or damaged): {type(error).__name__}") from None
        app = self._app_of(biscuit)
        revocation_ids = tuple(biscuit.revocation_ids)
        if self.revocations.any_revoked(revocation_ids):
            raise Denied("revoked", "the token has been revoked", app)
        expiries = [datetime.fromisoformat(match)
                    for index in range(biscuit.block_count())
                    for match in _EXPIRY.findall(biscuit.block_source(index))]
        if not _EXPIRY.search(biscuit.block_source(0)):
            raise Denied("malformed", "the authority block has no expiry check", app)
        expires = min(expiries)
        if now >= expires:
            raise Denied("expired", f"the token expired at {expires.isoformat()}", app)
        try:
            facts = self._authorizer(biscuit, "ui:window", now).query(Rule("r($r) <- right($r)"))
        except AuthorizationError as error:
            raise Denied("limits" if "limit" in str(error).lower() else "malformed",
                         f"reading the token's rights failed: {error}", app) from None
        rights = [fact.terms[0] for fact in facts]
        scopes: set[str] = set()
        for right in rights:
            if isinstance(right, str) and self._authorize(biscuit, right, now, app):
                scopes.add(right)
        if not scopes:
            raise Denied("scope", "the token grants nothing", app)
        grant = Grant(app, frozenset(scopes), expires, revocation_ids, self.revocations.version,
                      time.monotonic())
        return grant

    def _authorizer(self, biscuit: Biscuit, op: str, now: datetime) -> Authorizer:
        if not isinstance(now, datetime):
            raise TypeError("an authorizer always gets the time fact")
        builder = AuthorizerBuilder(AUTHORIZER_CODE, {"now": now, "op": op})
        # biscuit_auth 0.4.0's bundled stub predates limits()/set_limits(); the compiled module has them.
        limits = builder.limits()  # type: ignore[attr-defined]
        limits.max_facts = self.limits.max_facts
        limits.max_iterations = self.limits.max_iterations
        limits.max_time = self.limits.max_time
        builder.set_limits(limits)  # type: ignore[attr-defined]
        return builder.build(biscuit)

    def _authorize(self, biscuit: Biscuit, op: str, now: datetime, app: str) -> bool:
        try:
            self._authorizer(biscuit, op, now).authorize()
            return True
        except AuthorizationError as error:
            text = str(error)
            if "limit" in text.lower():
                log.warning("caps: DENY %s %s: Datalog execution limits reached (%s)", app, op, text)
                raise Denied("limits", f"Datalog execution limits reached while checking {op}", app) \
                    from None
            if "time($t)" in text:
                raise Denied("expired", f"a time check failed: {text}", app) from None
            return False  # this right was attenuated away

    @staticmethod
    def _app_of(biscuit: Biscuit) -> str:
        match = re.search(r'^app\("([^"]*)"\);', biscuit.block_source(0), re.M)
        return match.group(1) if match else "?"

    # -- the per-call path ---------------------------------------------------------------------
    def check(self, token: str, scope: str, what: str, *, audit_allow: bool = True) -> Grant:
        """Cheap check on every host call: expiry vs clock, revocation lookup, scope membership.
        Re-runs the full verification when the token is new or the revocation list changed, so the
        Biscuit is verified once per token (not per call) while all three checks run on every call."""
        grant = self._grants.get(token)
        now = self.clock()
        if (grant is None or grant.revocation_version != self.revocations.version
                or time.monotonic() - grant.verified_at > self.REVERIFY_AFTER):
            try:
                grant = self._verify(token, datetime.fromtimestamp(now, UTC).replace(microsecond=0))
            except Denied as error:
                self._deny(error, what)
                raise
            self._grants[token] = grant
            while len(self._grants) > self.CACHE_SIZE:
                self._grants.popitem(last=False)
        refusal: Denied | None = None
        if now >= grant.expires.timestamp():
            refusal = Denied("expired", f"the token expired at {grant.expires.isoformat()}", grant.app_id)
        elif self.revocations.any_revoked(grant.revocation_ids):
            refusal = Denied("revoked", "the token has been revoked", grant.app_id)
        elif not grant.allows(scope):
            refusal = Denied("scope", f"{what} needs {scope!r}, which was not granted", grant.app_id)
        if refusal is not None:
            self._grants.pop(token, None)
            self._deny(refusal, what)
            raise refusal
        if audit_allow:
            self.audit.record(grant.app_id, what, "allow", scope)
        return grant

    def _deny(self, error: Denied, what: str) -> None:
        log.warning("caps: DENY app=%s %s: %s", error.app, what, error)
        self.audit.record(error.app, what, "deny", f"{error.code}: {error.message}")


def open_authority(state_dir: Path | None = None, limits: Limits | None = None) -> Authority:
    """The kernel's authority over its state directory: keys/, caps/revoked.sqlite, caps/audit.sqlite."""
    base = state_dir or paths.state_dir()
    keypair = load_or_create_root_key(base / "keys" / "root.key")
    return Authority(keypair, RevocationStore(base / "caps" / "revoked.sqlite"),
                     AuditLog(base / "caps" / "audit.sqlite"), limits)
