"""Publish one result and wait for Pub/Sub to accept it before the event is acknowledged."""

from __future__ import annotations

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.cloud.pubsub_v1 import PublisherClient
from google.cloud.pubsub_v1 import types as pubsub_types

from labeling.config import IN_CALL_RETRY_SECONDS
from labeling.errors import TransientError

# The client's own retryable codes for Publish (publisher_client_config: UNAVAILABLE, ABORTED, ...).
RETRYABLE = (
    api_exceptions.Aborted,
    api_exceptions.Cancelled,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.TooManyRequests,
    api_exceptions.ServiceUnavailable,
    api_exceptions.Unknown,
)


def build_publisher_client(timeout_seconds: float) -> PublisherClient:
    """A publisher tuned for one message per invocation.

    Default batching holds each message up to 10 ms hoping for company; with max_messages=1 the batch
    is full at once and commits immediately. An infinite max_latency also stops the client from
    starting a commit-timer thread on every publish (publisher/client.py
    _ensure_commit_timer_runs_no_lock), which would have nothing left to commit: one thread less per
    event. Honours PUBSUB_EMULATOR_HOST.
    """
    return PublisherClient(
        batch_settings=pubsub_types.BatchSettings(max_messages=1, max_latency=float("inf")),
        publisher_options=pubsub_types.PublisherOptions(
            retry=api_retry.Retry(
                predicate=api_retry.if_exception_type(*RETRYABLE),
                initial=0.1,
                maximum=1.0,
                multiplier=2.0,
                timeout=min(timeout_seconds, IN_CALL_RETRY_SECONDS),
            ),
            timeout=timeout_seconds,
        ),
    )


class ResultPublisher:
    def __init__(self, client: PublisherClient, topic_path: str, timeout_seconds: float) -> None:
        self._client = client
        self._topic_path = topic_path
        self._timeout = timeout_seconds

    def publish(self, data: bytes, attributes: dict[str, str]) -> str:
        """Publish and return the message id; TransientError if Pub/Sub did not take it in time."""
        future = self._client.publish(self._topic_path, data, **attributes)
        try:
            # Waiting matters: after the response the instance may be throttled and a pending
            # publish lost (googleapis/google-cloud-python#7620).
            message_id: str = future.result(timeout=self._timeout)
        except (api_exceptions.GoogleAPIError, TimeoutError) as error:
            raise TransientError(
                f"publishing to {self._topic_path} failed: {type(error).__name__}: {error}"
            ) from error
        return message_id
