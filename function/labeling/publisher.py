"""Publish one result and wait for Pub/Sub to accept it before the event is acknowledged.

Each result is one synchronous `Publish` RPC through the generated (GAPIC) client, with explicit retry
and timeout, not through `google.cloud.pubsub_v1.PublisherClient.publish` and its batches. Why
(google-cloud-pubsub 2.44 source):

- The batching client keeps one "current" batch per topic (`_sequencer/unordered_sequencer.py`). A
  batch whose commit failed is marked ERROR (`_batch/thread.py` `_commit`) and stays current until a
  commit timer calls `sequencer.commit()`, which drops it; every publish into it meanwhile raises
  `AssertionError: Publish after stop() or publish error.` (`Batch.publish`). With
  `max_latency=inf` that timer never starts (`client.py` `_ensure_commit_timer_runs_no_lock`), so
  one failed publish broke the instance for good. A finite `max_latency` drops the failed batch
  within that time, but starts a timer thread per publish and still leaves the window in which
  concurrent publishes hit the failed batch; the default settings (100 messages) hold each lone
  message the whole 10 ms.
- One message per invocation needs no batching at all: the direct call has no batch, sequencer,
  flow controller or commit thread (one thread started per message before), so nothing outlives a
  failure, and there is no future to lose: the call returns when Pub/Sub confirmed, or raises.
"""

from __future__ import annotations

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.auth import exceptions as auth_exceptions
from google.pubsub_v1 import PublisherClient
from google.pubsub_v1 import types as pubsub_types

from labeling.errors import TransientError
from labeling.retries import in_call_retry

# The client's own retryable codes for Publish (publisher transports/base.py: UNAVAILABLE, ABORTED,
# ...). NOT_FOUND and PERMISSION_DENIED are not retried in the call: the event fails at once (5xx)
# and Pub/Sub's backoff, not this instance, waits for the topic or the grant to come back.
RETRYABLE = (
    api_exceptions.Aborted,
    api_exceptions.Cancelled,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.TooManyRequests,
    api_exceptions.ServiceUnavailable,
    api_exceptions.Unknown,
)

_MESSAGE_PB = pubsub_types.PubsubMessage.pb()
_REQUEST_PB = pubsub_types.PublishRequest.pb()


def publish_retry(timeout_seconds: float) -> api_retry.Retry:
    """Retry transient errors with backoff for a short window inside the publish budget."""
    return in_call_retry(RETRYABLE, timeout_seconds)


class ResultPublisher:
    """Publishes one message per call with a shared, thread-safe GAPIC PublisherClient."""

    def __init__(self, client: PublisherClient, topic_path: str, timeout_seconds: float) -> None:
        self._client = client
        self._topic_path = topic_path
        self._timeout = timeout_seconds
        self._retry = publish_retry(timeout_seconds)

    def publish(self, data: bytes, attributes: dict[str, str]) -> str:
        """Publish and return the message id; TransientError if Pub/Sub did not take it in time."""
        # Built on the raw protobuf and wrapped, as the batching client does for speed.
        request = pubsub_types.PublishRequest.wrap(
            _REQUEST_PB(
                topic=self._topic_path,
                messages=[_MESSAGE_PB(data=data, attributes=attributes)],
            )
        )
        try:
            # Synchronous: the instance may be throttled once the response is sent, so nothing may
            # still be pending then (googleapis/google-cloud-python#7620). A float timeout is a
            # deadline across attempts (api_core TimeToDeadlineTimeout), retries included.
            response = self._client.publish(
                request=request, retry=self._retry, timeout=self._timeout
            )
        except (api_exceptions.GoogleAPIError, auth_exceptions.TransportError) as error:
            # The same two the batching client catches (_batch/thread.py `_commit`).
            raise TransientError(
                f"publishing to {self._topic_path} failed: {type(error).__name__}: {error}"
            ) from error
        message_ids = pubsub_types.PublishResponse.pb(response).message_ids
        if len(message_ids) != 1:
            raise TransientError(
                f"publishing to {self._topic_path}: Pub/Sub answered {len(message_ids)} ids for 1"
            )
        message_id: str = message_ids[0]
        return message_id
