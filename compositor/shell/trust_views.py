"""What the shell shows about where an app came from and who vouches for it (docs/registry.md, Trust):
the origin and the untrusted mark of a suggestion, the extra confirmation before an untrusted app
runs, and the provenance rows (author, auditors, whether the user trusts each) of the offer and
approval dialogs. Pure functions, like views.py; the confirmation's actions are in trust.py.

views.py calls in here and this module draws with views' widgets, so it imports the module and looks
names up when it draws (either module may be imported first)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmos.api import Provenance, Signer
from llmos.compositor.shell import views

if TYPE_CHECKING:
    from llmos.compositor.shell.state import Suggestion, UntrustedRun

LOCAL = "local"
THIS_MACHINE = "this machine"  # the name the registry gives this node's own key
UNTRUSTED = "untrusted: signed by a key you do not trust"
MAX_AUDITS = 4  # audit rows a dialog shows; the rest are counted


def registry_words(origin: str) -> str:
    """"alice's registry" for an app pulled from the remote the user named alice."""
    return f"{origin}'s registry"


def who(signer: Signer) -> str:
    """A key in words: the name the user gave it, else the start of the key itself."""
    return signer.name or f"an unknown key {signer.short}"


def _trust(signer: Signer) -> str:
    return "you trust this key" if signer.trusted else "you do not trust this key"


def _line(words: str, trusted: bool = True) -> dict[str, Any]:
    return views.text(words, "sm", color=views.MUTED if trusted else views.DANGER)


# -- the launcher -------------------------------------------------------------------------------------
def suggestion_row(item: Suggestion) -> str:
    """One launcher row: the title, then where a pulled app came from (instead of the prompt) and a
    warning sign and "untrusted" on an app no trusted key vouches for."""
    pulled = item.origin != LOCAL
    if not pulled and item.trusted:
        return f"{item.title}  —  {item.prompt}" if item.prompt and item.prompt != item.title else item.title
    where = f"from {registry_words(item.origin)}" if pulled else ""
    if item.trusted:
        return f"{item.title}  —  {where}"
    return f"⚠ {item.title}  —  " + ", ".join(part for part in ("untrusted", where) if part)


def untrusted_note(suggestions: list[Suggestion]) -> dict[str, Any] | None:
    """The line under the suggestions saying what the untrusted mark means (None when no row has it)."""
    if all(item.trusted for item in suggestions):
        return None
    return views.node("Text", f"⚠ {UNTRUSTED}. It runs only after you confirm.", key="untrusted-note",
                      size="sm", color=views.DANGER)


# -- provenance rows (offer, approval and confirmation dialogs) ----------------------------------------
def author_row(found: Provenance) -> dict[str, Any]:
    author = found.author
    if found.origin == LOCAL and author.name == THIS_MACHINE:
        return _line("Made on this machine.")
    where = f"From {registry_words(found.origin)}, signed" if found.origin != LOCAL else "Signed"
    return _line(f"{where} by {who(author)} — {_trust(author)}.", author.trusted)


def audit_rows(found: Provenance) -> list[dict[str, Any]]:
    """Who audited the app and whether the user trusts each auditor, trusted ones first."""
    if not found.audits:
        return [_line("Nobody has audited it.")]
    ordered = sorted(found.audits, key=lambda audit: not audit.signer.trusted)
    rows = []
    for audit in ordered[:MAX_AUDITS]:
        signer = audit.signer
        mark = "⚠" if not signer.trusted else "✓" if audit.audited else "–"
        did = "Audited" if audit.audited else "Audit withdrawn"
        rows.append(_line(f"{mark} {did} by {who(signer)} — {_trust(signer)}.", signer.trusted))
    if len(ordered) > MAX_AUDITS:
        rows.append(_line(f"… and {len(ordered) - MAX_AUDITS} more audits."))
    return rows


def provenance_rows(found: Provenance | None) -> list[dict[str, Any]]:
    """The offer's and approval dialog's lines about who made and audited the app: none for a new app,
    or until apps.provenance has answered."""
    if found is None:
        return []
    return [views.node("Column", author_row(found), *audit_rows(found), key="provenance", gap=4)]


# -- the extra confirmation -----------------------------------------------------------------------------
def confirm_dialog(run: UntrustedRun, actions: views.Actions, h: views.Handlers,
                   screen: tuple[int, int]) -> dict[str, Any]:
    """Before an untrusted app runs: who signed it and where it came from, said plainly, then Cancel
    (focused first, so Enter cancels) and Run anyway. In the approval dialog's style."""
    app, found = run.app, run.provenance
    where = f" comes from {registry_words(app.origin)} and" if app.origin != LOCAL else ""
    signer = f"{who(found.author)}, a key you do not trust" if found is not None else "a key you do not trust"
    audits = views.node("Column", *audit_rows(found), key="provenance", gap=4) if found is not None else None
    return views.node(
        "Window",
        views.node("Text", "This app is not trusted", key="untrusted-heading", size="lg", bold=True,
                   color=views.DANGER),
        views.text(f"“{app.title}”{where} is signed by {signer}."),
        audits,
        _line("Nobody you trust made or audited it. Run it only if you trust where it came from."),
        views.node("Row", views.node("Button", "Cancel", key="cancel", onClick=h(actions.cancel_untrusted)),
                   views.node("Button", "Run anyway", key="run-anyway", onClick=h(actions.run_untrusted)),
                   _line("Esc: cancel"), key="buttons"),  # keyed: Cancel keeps the focus when rows come
        width=views.panel_width(screen, wide=False), padding=views.PANEL_PADDING, gap=14,
    )
