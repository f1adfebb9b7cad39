"""Capabilities: the table of scopes an app can hold (table.py, the one place a scope is defined), their
syntax, the manifest an app asks with and the policy that bounds it, and the authority that mints,
attenuates, verifies and revokes Biscuit tokens and audits every denial and privileged call."""

from llmos.kernel.caps.audit import AuditLog
from llmos.kernel.caps.authority import Authority, Denied, Grant, Limits, open_authority
from llmos.kernel.caps.manifest import Manifest, ManifestError, Request, Usage
from llmos.kernel.caps.policy import Policy, PolicyError
from llmos.kernel.caps.revocation import RevocationStore
from llmos.kernel.caps.scopes import parse_scope, scope_allows
from llmos.kernel.caps.table import TABLE, describe

__all__ = ["TABLE", "AuditLog", "Authority", "Denied", "Grant", "Limits", "Manifest", "ManifestError",
           "Policy", "PolicyError", "Request", "RevocationStore", "Usage", "describe", "open_authority",
           "parse_scope", "scope_allows"]
