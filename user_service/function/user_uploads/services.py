"""The service's collaborators, each built once per instance on first use (never at import).

Firestore, Storage and Pub/Sub clients are thread-safe and meant to be shared; the emulators are used
when FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST are set (the client
libraries' own variables).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import google.auth.transport
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage

from user_uploads.announcer import Announcer, build_publisher
from user_uploads.config import Settings
from user_uploads.entries import Entries
from user_uploads.push_auth import OidcPushVerifier, PushVerifier, SharedTokenVerifier
from user_uploads.storage import ImagesBucket

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built by `factory` on the first `get()`, exactly once even under concurrent calls;
    a factory that raises leaves nothing behind, so the next `get()` tries again."""

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
                    value = self._value = self._factory()
        return value


@dataclass(frozen=True)
class Services:
    entries: Lazy[Entries]
    bucket: Lazy[ImagesBucket]
    announcer: Lazy[Announcer]
    verifier: Lazy[PushVerifier]


def build_services(
    settings: Settings,
    push_transport: Callable[[], google.auth.transport.Request] | None = None,
) -> Services:
    """`push_transport`: how Google's certificates are fetched (tests serve their own)."""

    def entries() -> Entries:
        client = firestore.Client(project=settings.project_id)
        return Entries(client, settings.collection)

    def bucket() -> ImagesBucket:
        if settings.storage_emulator_host:
            client = storage.Client(project=settings.project_id, credentials=AnonymousCredentials())
        else:
            client = storage.Client(project=settings.project_id)
        return ImagesBucket(client, settings.bucket_name, settings.signer_email)

    def announcer() -> Announcer:
        return Announcer(
            build_publisher(settings.pubsub_emulator_host),
            settings.topic_path,
            settings.publish_timeout_seconds,
        )

    def verifier() -> PushVerifier:
        if settings.local_push_token is not None:
            return SharedTokenVerifier(settings.local_push_token)
        assert settings.push is not None  # Settings requires one of the two
        if push_transport is None:
            return OidcPushVerifier(settings.push)
        return OidcPushVerifier(settings.push, push_transport)

    return Services(Lazy(entries), Lazy(bucket), Lazy(announcer), Lazy(verifier))
