"""Gateway errors. A *refusal* is a deliberate "no" (bad prompt, budget, rate limit, policy) that the
shell shows to the user as is; a provider error is a failure the router may answer by falling back."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of everything the gateway raises on purpose."""


class Refusal(GatewayError):
    """The gateway will not run this request; the message says why in plain words."""

    reason = "refused"


class BadPrompt(Refusal):
    reason = "bad-prompt"


class BudgetExhausted(Refusal):
    reason = "budget"


class RateLimited(Refusal):
    reason = "rate-limit"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PolicyViolation(Refusal):
    reason = "policy"


class ProviderError(GatewayError):
    """A model provider failed (network, overload, garbage output); another provider may succeed."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ModelFileError(GatewayError):
    """The GGUF file is missing, truncated or not the expected one."""

    def __init__(self, path: object, problem: str, expected_sha256: str | None) -> None:
        want = f" (expected sha256 {expected_sha256})" if expected_sha256 else ""
        super().__init__(f"model file {path}: {problem}{want}")
        self.path = path
        self.expected_sha256 = expected_sha256
