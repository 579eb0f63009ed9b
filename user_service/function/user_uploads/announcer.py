"""Announces a checked upload on user-service-new-image: one synchronous publish per upload.

The generated (GAPIC) client's Publish returns only once Pub/Sub has the message, with an explicit
retry and deadline, so nothing is pending when the response goes out (an instance may be throttled
then: googleapis/google-cloud-python#7620). The batching client's future would do the same with more
machinery (a batch, a commit thread) for one message; the AI-Service's labeling/publisher.py explains
how a failed batch can poison that client.
"""

from __future__ import annotations

import json

import grpc
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.auth.credentials import AnonymousCredentials
from google.pubsub_v1 import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.types import PubsubMessage

RETRYABLE = (
    api_exceptions.Aborted,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.ServiceUnavailable,
    api_exceptions.TooManyRequests,
    api_exceptions.Unknown,
)


class AnnounceFailed(Exception):
    """Pub/Sub did not take the announcement in time; the client may say "done" again (503)."""


def build_publisher(emulator_host: str | None) -> PublisherClient:
    """The GAPIC client; on the emulator an insecure channel, anonymously (it has no auth)."""
    if emulator_host:
        transport = PublisherGrpcTransport(
            host=emulator_host,
            credentials=AnonymousCredentials(),
            channel=grpc.insecure_channel(emulator_host),
        )
        return PublisherClient(transport=transport)
    return PublisherClient()


class Announcer:
    def __init__(self, client: PublisherClient, topic_path: str, timeout_seconds: float) -> None:
        self._client = client
        self._topic_path = topic_path
        self._timeout = timeout_seconds
        self._retry = api_retry.Retry(
            predicate=api_retry.if_exception_type(*RETRYABLE),
            initial=0.1,
            maximum=1.0,
            multiplier=2.0,
            timeout=timeout_seconds,
        )

    def announce(self, upload_id: str, object_name: str) -> str:
        """Publishes {"id", "path"} (contracts/new-image.schema.json); returns the message id."""
        data = json.dumps({"id": upload_id, "path": object_name}).encode("utf-8")
        try:
            response = self._client.publish(
                topic=self._topic_path,
                messages=[PubsubMessage(data=data)],
                retry=self._retry,
                timeout=self._timeout,
            )
        except api_exceptions.GoogleAPIError as error:
            raise AnnounceFailed(f"{type(error).__name__}: {error}") from error
        message_id: str = response.message_ids[0]
        return message_id
