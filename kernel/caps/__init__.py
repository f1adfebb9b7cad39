"""Capability tokens: the kernel is the authority that mints, attenuates, verifies and revokes
Biscuit tokens, and audits every denial and privileged call."""

from llmos.kernel.caps.audit import AuditLog
from llmos.kernel.caps.authority import Authority, Denied, Grant, Limits, open_authority
from llmos.kernel.caps.revocation import RevocationStore
from llmos.kernel.caps.scopes import SCOPE_HELP, parse_scope, scope_allows

__all__ = ["SCOPE_HELP", "AuditLog", "Authority", "Denied", "Grant", "Limits", "RevocationStore",
           "open_authority", "parse_scope", "scope_allows"]
