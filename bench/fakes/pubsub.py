"""A Pub/Sub fake (Publisher.Publish, Subscriber.Pull/Acknowledge/ModifyAckDeadline) serving the
real pubsub_v1 types.

It enforces the limits real Pub/Sub enforces on publish (attribute sizes and counts, message size, data
or attributes present), so a message the real service would refuse is refused here too.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import grpc
from google.protobuf import timestamp_pb2
from google.pubsub_v1 import types as pubsub_types

from bench.fakes.grpc_server import Faults, GrpcFakeServer, Method, apply_faults

PUBLISHER = "google.pubsub.v1.Publisher"
SUBSCRIBER = "google.pubsub.v1.Subscriber"

MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
MAX_MESSAGE_BYTES = 10 * 1000 * 1000


@dataclass(frozen=True)
class Published:
    """One stored message, decoded for assertions."""

    topic: str
    message_id: str
    data: bytes
    attributes: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.data.decode("utf-8"))


def publish_problem(message: pubsub_types.PubsubMessage) -> str | None:
    """Why real Pub/Sub would refuse this message, or None."""
    if not message.data and not message.attributes:
        return "Some messages are empty: a message needs data or attributes."
    if len(message.attributes) > MAX_ATTRIBUTES:
        return "Too many attributes."
    for key, value in message.attributes.items():
        if not key or len(key.encode()) > MAX_ATTRIBUTE_KEY_BYTES:
            return f"Invalid attribute key {key[:40]!r}."
        if len(value.encode()) > MAX_ATTRIBUTE_VALUE_BYTES:
            return f"Attribute {key!r} value is longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes."
    if pubsub_types.PubsubMessage.pb(message).ByteSize() > MAX_MESSAGE_BYTES:
        return "Message is too large."
    return None


@dataclass
class _Lease:
    message: pubsub_types.PubsubMessage
    deliveries: int = 0
    leased_until: float = 0.0


@dataclass
class FakePubSub:
    """Stores what is published per topic; fans it out to subscriptions that Pull and Acknowledge."""

    faults: Faults = field(default_factory=Faults)
    known_topics: set[str] | None = None
    ack_deadline_seconds: float = 10.0
    published: list[Published] = field(default_factory=list)
    publish_calls: int = 0
    publish_peers: list[str] = field(default_factory=list)  # the client address of every Publish
    _subscriptions: dict[str, str] = field(default_factory=dict)
    _outstanding: dict[str, dict[str, _Lease]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    host: str = ""  # set once a server for this fake is started
    _lock: threading.Condition = field(default_factory=threading.Condition, repr=False)
    # Called with every new fake: tests/conftest.py validates all published messages this way.
    observers: ClassVar[list[Callable[[FakePubSub], None]]] = []

    def __post_init__(self) -> None:
        for observe in list(FakePubSub.observers):
            observe(self)

    def add_subscription(self, subscription: str, topic: str) -> None:
        with self._lock:
            self._subscriptions[subscription] = topic
            self._outstanding.setdefault(subscription, {})

    def messages(self, topic: str | None = None) -> list[Published]:
        with self._lock:
            return [p for p in self.published if topic is None or p.topic == topic]

    def wait_for(
        self, count: int, timeout: float = 10.0, topic: str | None = None
    ) -> list[Published]:
        """Block until at least `count` messages were published (to `topic`), or time out."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [p for p in self.published if topic is None or p.topic == topic]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                self._lock.wait(remaining)

    # -- Publisher -------------------------------------------------------------------------------

    def publish(
        self, request: pubsub_types.PublishRequest, context: grpc.ServicerContext
    ) -> pubsub_types.PublishResponse:
        with self._lock:
            self.publish_calls += 1
            self.publish_peers.append(context.peer())
        apply_faults(self.faults, context, "Publish")
        if self.known_topics is not None and request.topic not in self.known_topics:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"Resource not found (resource={request.topic})."
            )
        for message in request.messages:
            problem = publish_problem(message)
            if problem:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        ids = []
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        with self._lock:
            for message in request.messages:
                message_id = str(next(self._ids))
                ids.append(message_id)
                stored = pubsub_types.PubsubMessage(
                    data=message.data,
                    attributes=dict(message.attributes),
                    message_id=message_id,
                    publish_time=now,
                )
                self.published.append(
                    Published(request.topic, message_id, message.data, dict(message.attributes))
                )
                for subscription, topic in self._subscriptions.items():
                    if topic == request.topic:
                        self._outstanding[subscription][message_id] = _Lease(stored)
            self._lock.notify_all()
        return pubsub_types.PublishResponse(message_ids=ids)

    # -- Subscriber ------------------------------------------------------------------------------

    def pull(
        self, request: pubsub_types.PullRequest, context: grpc.ServicerContext
    ) -> pubsub_types.PullResponse:
        apply_faults(self.faults, context, "Pull")
        with self._lock:
            if request.subscription not in self._outstanding:
                context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"Resource not found (resource={request.subscription}).",
                )
            now = time.monotonic()
            received: list[pubsub_types.ReceivedMessage] = []
            for message_id, lease in self._outstanding[request.subscription].items():
                if len(received) >= max(request.max_messages, 1):
                    break
                if lease.leased_until > now:
                    continue
                lease.deliveries += 1
                lease.leased_until = now + self.ack_deadline_seconds
                received.append(
                    pubsub_types.ReceivedMessage(
                        ack_id=f"{request.subscription}#{message_id}",
                        message=lease.message,
                        delivery_attempt=lease.deliveries,
                    )
                )
        return pubsub_types.PullResponse(received_messages=received)

    def acknowledge(
        self, request: pubsub_types.AcknowledgeRequest, context: grpc.ServicerContext
    ) -> Any:
        apply_faults(self.faults, context, "Acknowledge")
        with self._lock:
            for ack_id in request.ack_ids:
                subscription, _, message_id = ack_id.partition("#")
                self._outstanding.get(subscription, {}).pop(message_id, None)
        return _EMPTY

    def modify_ack_deadline(
        self, request: pubsub_types.ModifyAckDeadlineRequest, context: grpc.ServicerContext
    ) -> Any:
        """Extends or ends leases; a deadline of 0 is a nack (deliverable again at once)."""
        apply_faults(self.faults, context, "ModifyAckDeadline")
        with self._lock:
            leased_until = time.monotonic() + request.ack_deadline_seconds
            for ack_id in request.ack_ids:
                subscription, _, message_id = ack_id.partition("#")
                lease = self._outstanding.get(subscription, {}).get(message_id)
                if lease is not None:
                    lease.leased_until = leased_until
            self._lock.notify_all()
        return _EMPTY

    def outstanding(self, subscription: str) -> int:
        with self._lock:
            return len(self._outstanding.get(subscription, {}))

    def server(self) -> GrpcFakeServer:
        server = GrpcFakeServer(
            {
                PUBLISHER: [
                    Method(
                        "Publish",
                        self.publish,
                        pubsub_types.PublishRequest,
                        pubsub_types.PublishResponse,
                    )
                ],
                SUBSCRIBER: [
                    Method("Pull", self.pull, pubsub_types.PullRequest, pubsub_types.PullResponse),
                    Method(
                        "Acknowledge", self.acknowledge, pubsub_types.AcknowledgeRequest, _Empty
                    ),
                    Method(
                        "ModifyAckDeadline",
                        self.modify_ack_deadline,
                        pubsub_types.ModifyAckDeadlineRequest,
                        _Empty,
                    ),
                ],
            }
        )
        self.host = server.host
        return server


class _Empty:
    """google.protobuf.Empty with the serialize/deserialize pair GrpcFakeServer expects."""

    @staticmethod
    def serialize(_message: object) -> bytes:
        return b""

    @staticmethod
    def deserialize(_data: bytes) -> _Empty:
        return _Empty()


_EMPTY = _Empty()
