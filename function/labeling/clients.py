"""Google clients, built once per instance on first use (never at import), safely across threads.

Both clients are thread-safe and hold one gRPC channel: sharing it per instance is what the client
libraries recommend, and it keeps the connection warm between invocations. A channel outlives every
request, so it is built to recover by itself (docs/reliability.md): when its peer closes the
connection or restarts on the same address it reconnects, with a reconnect backoff capped so that a
peer that came back is seen within the in-call retry window; and it sends keepalive pings, so a
connection that went dead without a FIN (a NAT or proxy forgot it) is dropped and replaced instead
of swallowing every call until it times out.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import grpc
from google.auth.credentials import AnonymousCredentials
from google.cloud import vision_v1
from google.cloud.vision_v1.services.image_annotator.transports import ImageAnnotatorGrpcTransport
from google.pubsub_v1 import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

from labeling.config import Settings

T = TypeVar("T")

# gRPC channel arguments (https://grpc.github.io/grpc/core/group__grpc__arg__keys.html).
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    # gRPC's default reconnect backoff grows to 120 s (doc/connection-backoff.md): after a long
    # outage a channel could wait two minutes before it tries the peer that is back, failing every
    # call fast with UNAVAILABLE meanwhile. 1 s keeps a retry within IN_CALL_RETRY_SECONDS.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # What Pub/Sub's own transport sets (publisher transports/grpc.py), so Google's front ends accept
    # it; Vision's transport sets none. A dead connection is then found within about 30 s + 20 s.
    ("grpc.keepalive_time_ms", 30_000),
)


class Lazy(Generic[T]):
    """A value built by `factory` on first `get()`, exactly once even under concurrent calls.

    A factory that raises leaves nothing behind: the next `get()` tries again.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._factory()
                    self._value = value
        return value


def _options(given: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """The transport's own channel options with ours on top (ours win on the same key)."""
    return list({**dict(given), **dict(CHANNEL_OPTIONS)}.items())


def _secure_channel(transport: Any) -> Callable[..., grpc.Channel]:
    """The transport's own `create_channel` (credentials, TLS, endpoint), with our options."""

    def create(
        host: str, *, options: Sequence[tuple[str, Any]] = (), **kwargs: Any
    ) -> grpc.Channel:
        channel: grpc.Channel = transport.create_channel(host, options=_options(options), **kwargs)
        return channel

    return create


def _insecure_channel(host: str) -> grpc.Channel:
    return grpc.insecure_channel(host, options=_options())


def build_vision_client(settings: Settings) -> vision_v1.ImageAnnotatorClient:
    """The Vision client; VISION_EMULATOR_HOST points it at an insecure local endpoint, anonymously,
    the way PUBSUB_EMULATOR_HOST works for Pub/Sub."""
    if settings.vision_emulator_host:
        transport = ImageAnnotatorGrpcTransport(
            host=settings.vision_emulator_host,
            credentials=AnonymousCredentials(),
            channel=_insecure_channel(settings.vision_emulator_host),
        )
        return vision_v1.ImageAnnotatorClient(transport=transport)
    # A transport callable gets the client's endpoint and credentials (client.py `transport_init`).
    return vision_v1.ImageAnnotatorClient(
        transport=functools.partial(
            ImageAnnotatorGrpcTransport, channel=_secure_channel(ImageAnnotatorGrpcTransport)
        )
    )


def build_publisher(settings: Settings) -> PublisherClient:
    """The generated Pub/Sub client (labeling.publisher says why not the batching one).

    With PUBSUB_EMULATOR_HOST it would build its own insecure channel, without our options, so the
    emulator's channel is built here, as the batching client does, anonymously."""
    if settings.pubsub_emulator_host:
        transport = PublisherGrpcTransport(
            host=settings.pubsub_emulator_host,
            credentials=AnonymousCredentials(),
            channel=_insecure_channel(settings.pubsub_emulator_host),
        )
        return PublisherClient(transport=transport)
    return PublisherClient(
        transport=functools.partial(
            PublisherGrpcTransport, channel=_secure_channel(PublisherGrpcTransport)
        )
    )
