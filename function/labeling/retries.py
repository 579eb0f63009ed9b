"""The in-call retry both RPCs use: transient errors retried with backoff for a short window."""

from __future__ import annotations

from google.api_core import retry as api_retry

from labeling.config import IN_CALL_RETRY_SECONDS


def in_call_retry(retryable: tuple[type[Exception], ...], budget_seconds: float) -> api_retry.Retry:
    """Backoff 0.1 s doubling to 1 s, for IN_CALL_RETRY_SECONDS at most and never past the budget:
    longer trouble becomes a quick 5xx and Pub/Sub's own backoff takes over."""
    return api_retry.Retry(
        predicate=api_retry.if_exception_type(*retryable),
        initial=0.1,
        maximum=1.0,
        multiplier=2.0,
        timeout=min(budget_seconds, IN_CALL_RETRY_SECONDS),
    )
