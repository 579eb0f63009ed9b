"""The User-Service on Google's Firestore and Pub/Sub emulators and the storage emulator.

Shared per session: the Firestore emulator (one process; each test has a project of its own, which the
emulator keeps apart, as the Pub/Sub emulator does), the storage emulator and its gateway
(user_service.local.storage_gateway: CORS and GCS's upload preconditions). Per test: the contract
topics in that project and the service, in-process (Flask's test client) or as a real process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import flask
import pytest
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage

from ops.emulators import (
    FirestoreEmulator,
    PubSubEmulator,
    free_port,
    pubsub_clients,
)
from tests.fakes.emulator import running
from tests.user_service.harness import Topics, envelope
from user_service.local.server import local_environment
from user_service.local.storage_gateway import StorageGateway
from user_uploads.app import create_app
from user_uploads.config import Settings
from user_uploads.services import build_services

BUCKET = "user-service-images"


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    for emulator in running(FirestoreEmulator()):
        warm_up(emulator)
        yield emulator


def warm_up(emulator: FirestoreEmulator) -> None:
    """One write and read with a generous deadline: the emulator's JVM answers its first calls slowly
    on a busy machine, and the service's own 5 s call deadline is meant for a warm peer."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
        database = firestore.Client(project="warm-up", credentials=AnonymousCredentials())
    document = database.collection("warm-up").document("first")
    document.set({"warm": True}, timeout=60)
    assert document.get(timeout=60).get("warm") is True
    database.close()


@pytest.fixture(scope="session")
def storage_gateway() -> Iterator[StorageGateway]:
    """The storage emulator (in memory, holding the images bucket) behind the local gateway."""
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        with StorageGateway(f"http://127.0.0.1:{port}", origins=[]) as gateway:
            yield gateway
    finally:
        server.stop()


@pytest.fixture(scope="session")
def bucket(storage_gateway: StorageGateway) -> storage.Bucket:
    """The images bucket as the tests see it (the AI-Service's reads, an operator's listing)."""
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = storage_gateway.url
    try:
        client = storage.Client(project="test", credentials=AnonymousCredentials())
    finally:
        if previous is None:
            del os.environ["STORAGE_EMULATOR_HOST"]
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
    return client.bucket(BUCKET)


@pytest.fixture
def topics(pubsub_emulator: PubSubEmulator, emulator_project: str) -> Iterator[Topics]:
    publisher, subscriber = pubsub_clients(pubsub_emulator.host)
    try:
        yield Topics(emulator_project, publisher, subscriber)
    finally:
        subscriber.close()


@pytest.fixture
def service_environment(
    firestore_emulator: FirestoreEmulator,
    pubsub_emulator: PubSubEmulator,
    storage_gateway: StorageGateway,
    emulator_project: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The service's variables on the emulators; the clients read the emulator hosts when built."""
    environment = local_environment(
        emulator_project, BUCKET, firestore_emulator.host, pubsub_emulator.host, storage_gateway.url
    )
    for name in ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"):
        monkeypatch.setenv(name, environment[name])
    return environment


@dataclass
class Api:
    """The service in-process, through Flask's test client (one browser: one owner cookie)."""

    app: flask.Flask
    client: Any
    environment: dict[str, str]

    @property
    def token(self) -> str:
        return self.environment["LOCAL_PUSH_TOKEN"]

    def create(self, content_type: str = "image/png", size: int = 1000, **extra: Any) -> Any:
        return self.client.post(
            "/api/uploads", json={"content_type": content_type, "size": size, **extra}
        )

    def done(self, upload_id: str) -> Any:
        return self.client.post(f"/api/uploads/{upload_id}/done")

    def read(self, upload_id: str) -> Any:
        return self.client.get(f"/api/uploads/{upload_id}")

    def deliver(self, payload: Any, token: str | None = None, message_id: str = "9001") -> Any:
        """A push delivery of `payload` (a result dict, or raw bytes/str as data)."""
        return self.client.post(
            f"/pubsub/results?token={self.token if token is None else token}",
            json=envelope(payload, message_id),
        )


def make_api(environment: dict[str, str]) -> Api:
    settings = Settings.from_env(environment)
    app = create_app(settings, build_services(settings))
    return Api(app, app.test_client(), environment)


@pytest.fixture
def api(service_environment: dict[str, str], topics: Topics) -> Api:
    topics.create()
    return make_api(service_environment)
