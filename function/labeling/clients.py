"""Google clients, built once per instance on first use (never at import), safely across threads.

Both clients are thread-safe and hold a gRPC channel: sharing one per instance is what the client
libraries recommend, and it keeps the connection warm between invocations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import grpc
from google.auth.credentials import AnonymousCredentials
from google.cloud import vision_v1
from google.cloud.pubsub_v1 import PublisherClient
from google.cloud.vision_v1.services.image_annotator.transports import ImageAnnotatorGrpcTransport

from labeling.config import Settings
from labeling.publisher import build_publisher_client

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built by `factory` on first `get()`, exactly once even under concurrent calls."""

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


def build_vision_client(settings: Settings) -> vision_v1.ImageAnnotatorClient:
    """The Vision client; VISION_EMULATOR_HOST points it at an insecure local endpoint, anonymously,
    the way PUBSUB_EMULATOR_HOST works for Pub/Sub."""
    if settings.vision_emulator_host:
        transport = ImageAnnotatorGrpcTransport(
            host=settings.vision_emulator_host,
            credentials=AnonymousCredentials(),
            channel=grpc.insecure_channel(settings.vision_emulator_host),
        )
        return vision_v1.ImageAnnotatorClient(transport=transport)
    return vision_v1.ImageAnnotatorClient()


def build_publisher(settings: Settings) -> PublisherClient:
    return build_publisher_client(settings.publish_timeout_seconds)
