"""The token an app serves one call under (Authority.for_call), and the app:APP/FUNCTION row: against
real Biscuit and SQLite. The callee keeps exactly its own rights, never the caller's; the token names
the caller, dies with the call, and with the callee's own token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmos.kernel.caps import Denied, parse_scope
from llmos.kernel.caps.authority import utcnow
from llmos.kernel.caps.table import describe, needed_by, row_of


def test_a_call_token_holds_the_callees_rights_names_the_caller_and_expires_with_the_call(authority) -> None:
    callee = authority.mint("callee", ["ui:window", "storage:local"])
    caller = authority.mint("caller", ["ui:window", "notify", "app:callee/convert"])
    until = datetime.now(UTC) + timedelta(seconds=5)
    token = authority.for_call(callee, "caller", "c0ffee", until)

    grant = authority.verify(token, now=utcnow())
    assert grant.app_id == "callee" and grant.scopes == {"ui:window", "storage:local"}
    assert until <= grant.expires <= until + timedelta(seconds=2)
    assert authority.caller_of(token) == "caller" and authority.caller_of(callee) is None
    assert authority.check(token, "storage:local", "storage.get x").app_id == "callee"
    with pytest.raises(Denied, match="scope"):  # the caller's notify did not come with the call
        authority.check(token, "notify", "ui.notify")
    with pytest.raises(Denied, match="expired"):
        authority.verify(token, now=until + timedelta(seconds=3))
    with pytest.raises(Denied, match="widen"):
        authority.attenuate(token, ["app:callee/convert"])
    authority.revoke(callee, "the callee's grant was taken back")
    with pytest.raises(Denied, match="revoked"):
        authority.check(token, "storage:local", "storage.get x")
    assert authority.check(caller, "app:callee/convert", "app.call callee/convert").app_id == "caller"


def test_a_call_token_is_only_made_for_an_app_id(authority) -> None:
    callee = authority.mint("callee", ["ui:window"])
    with pytest.raises(ValueError, match="caller"):
        authority.for_call(callee, 'x"); right("notify', "c1", datetime.now(UTC))


def test_the_app_function_row_in_words_and_syntax() -> None:
    scope = "app:app-35b1793525/convert"
    assert parse_scope(scope) == scope and row_of(scope) is not None
    assert describe(scope) == "Use the function 'convert' of your app app-35b1793525"
    assert describe("app:*") == "Use any function of any other app"
    for bad in ("app:callee", "app:callee/", "app:/convert", "app:Callee/convert", "app:callee/convert/x",
                "app:callee/2convert", "app:*/convert"):
        with pytest.raises(ValueError, match="app:APP/FUNCTION needs"):
            parse_scope(bad)
    row = needed_by("apps", "call")
    assert row is not None and row.pattern == "app:APP/FUNCTION"
    assert row.scope("callee/convert") == "app:callee/convert" and row.scope("callee") is None
    assert needed_by("apps", "provide") is None  # offering a function needs no grant
