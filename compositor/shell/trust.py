"""Trust in the shell: the extra confirmation before an untrusted app runs, and the provenance
(apps.provenance: origin, author, auditors) that the offer, approval and confirmation dialogs show.

An app that no key the user trusts signed or audited (`trusted: false` in apps.search, or an
`untrusted` refusal from apps.run) is never sent to run when it is chosen: the "untrusted" panel
(trust_views.confirm_dialog) names its signer and origin, and only "Run anyway" runs it, with
`confirm_untrusted: true`. Cancel and Escape send nothing and go back to the launcher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmos import ipc
from llmos.api import Provenance
from llmos.compositor.shell.state import UntrustedRun

if TYPE_CHECKING:
    from llmos.compositor.shell.shell import Shell
    from llmos.compositor.shell.state import Flow, Suggestion

PANEL = "untrusted"


class TrustGate:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    # -- the extra confirmation -------------------------------------------------------------------
    def ask(self, app: Suggestion) -> None:
        """Show the confirmation for `app` (nothing runs yet) and look up who signed and audited it."""
        state = self.shell.state
        run = state.untrusted = UntrustedRun(app)
        state.panel = PANEL
        self.shell.spawn(self._look_up_for_confirmation(run))
        self.shell.invalidate()

    async def _look_up_for_confirmation(self, run: UntrustedRun) -> None:
        found = await self.provenance(run.app.ref)
        if self.shell.state.untrusted is run:
            run.provenance = found
            self.shell.invalidate()

    def run_anyway(self) -> None:
        """"Run anyway": the one place that sends confirm_untrusted: true."""
        state = self.shell.state
        run = state.untrusted
        if run is None or state.panel != PANEL:
            return
        state.untrusted, state.panel = None, None
        self.shell.launcher.clear()
        self.shell.spawn(self.shell.launcher.run_saved(run.app, confirm_untrusted=True))

    def cancel(self) -> None:
        """Cancel or Escape: nothing is sent; the launcher comes back as it was."""
        state = self.shell.state
        if state.panel != PANEL:
            return
        state.untrusted, state.panel = None, "launcher"
        self.shell.invalidate()

    # -- provenance for the flow dialogs ------------------------------------------------------------
    def follow(self, flow: Flow, ref: str) -> None:
        """The saved app a flow offers or runs ("" once it makes a new one instead): look up its
        provenance for the offer and approval dialogs."""
        flow.hash, flow.provenance = ref, None
        if ref:
            self.shell.spawn(self._look_up_for_flow(flow, ref))

    async def _look_up_for_flow(self, flow: Flow, ref: str) -> None:
        found = await self.provenance(ref)
        if self.shell.state.flow is flow and flow.hash == ref:
            flow.provenance = found
            self.shell.invalidate()

    async def provenance(self, ref: str) -> Provenance | None:
        """apps.provenance for `ref`; None when the kernel has no answer (the app was removed
        meanwhile, or an older kernel), and the dialog then goes without these lines."""
        try:
            answer = await self.shell.link.call("apps.provenance", ref=ref)
        except ipc.RpcError:
            return None
        return Provenance.from_json(answer) if isinstance(answer, dict) else None
