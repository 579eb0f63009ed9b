"""The whole loop offline: smoke -> storage emulator + new-image topic -> the real function -> results.

- Storage: a real `gcp-storage-emulator` server on loopback (STORAGE_EMULATOR_HOST).
- Pub/Sub: bench/fakes/pubsub.py (PUBSUB_EMULATOR_HOST), with the stack's topics and subscriptions.
- The AI-Service: `Delivery`, a thread standing in for our push subscription, pulls new-image messages
  and POSTs them as raw push bodies to the real function (functions-framework test client); the
  function asks bench/fakes/vision.py and publishes its result to the labeled topic.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app
from gcp_storage_emulator.server import create_server
from google.api_core import exceptions as api_exceptions
from google.cloud.pubsub_v1 import SubscriberClient
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed
from google.pubsub_v1 import types as pubsub_types

from bench.fakes.events import push_body
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import CAT_LABELS, FakeImage, FakeVision
from ops.function_server import FUNCTION_SOURCE
from ops.processes import free_port
from tests.fakes.environment import FUNCTION_ENV_NAMES, function_environment
from tests.fakes.redelivery import ACK_STATUSES

PROJECT = "smoke-project"
BUCKET = "smoke-images"
NEW_IMAGE_TOPIC = f"projects/{PROJECT}/topics/user-service-new-image"
LABELED_TOPIC = f"projects/{PROJECT}/topics/ai-service-image-labeled"
RESULTS_SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/user-service-image-labeled"
PUSH_SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/ai-service-image-labeling-push"

# What the fake Vision answers per file name; a file name not listed gets Vision's code 7.
DEFAULT_VISION = {
    "bicycle.png": FakeImage(),
    "house.png": FakeImage(labels=CAT_LABELS),
}

ENVIRONMENT_NAMES = (*FUNCTION_ENV_NAMES, "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS")


@pytest.fixture(scope="module")
def storage_emulator() -> Iterator[str]:
    """A real storage emulator, in memory, holding the images bucket; yields its http:// URL."""
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def pubsub() -> Iterator[FakePubSub]:
    fake = FakePubSub(known_topics={NEW_IMAGE_TOPIC, LABELED_TOPIC})
    fake.add_subscription(RESULTS_SUBSCRIPTION, LABELED_TOPIC)
    fake.add_subscription(PUSH_SUBSCRIPTION, NEW_IMAGE_TOPIC)
    with fake.server():
        yield fake


@pytest.fixture
def vision() -> Iterator[FakeVision]:
    fake = FakeVision()
    with fake.server():
        yield fake


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch,
    storage_emulator: str,
    pubsub: FakePubSub,
    vision: FakeVision,
) -> None:
    """Smoke and function share one process: both reach the emulators through the libraries' vars."""
    for name in ENVIRONMENT_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator)
    # The function's deployed environment (infra/serverless.py), pointed at the fakes; smoke reads
    # its PUBSUB_EMULATOR_HOST too.
    deployed = function_environment(
        vision.host, pubsub.host, PROJECT_ID=PROJECT, BUCKET_NAME=BUCKET
    )
    for name, value in deployed.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def storage_client(environment: None) -> StorageClient:
    return StorageClient(project=PROJECT)


@dataclass
class Delivery:
    """Our push subscription, in a thread: every new-image message goes to the function over HTTP.

    Before a message is delivered, the fake Vision learns the image's answer, but only if the object
    really is in the emulator bucket (Vision reads gs:// itself): an image published before its
    upload, or never uploaded, fails with code 7. A non-2xx answer is nacked and redelivered, as
    Pub/Sub push does. `repeat` delivers every message that many times (at-least-once duplicates).
    """

    function: FlaskClient
    subscriber: SubscriberClient
    storage: StorageClient
    vision: FakeVision
    answers: dict[str, FakeImage] = field(default_factory=lambda: dict(DEFAULT_VISION))
    repeat: int = 1
    delivered: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Delivery:
        self._thread = threading.Thread(target=self._run, name="push-delivery", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.subscriber.pull(
                    request={"subscription": PUSH_SUBSCRIPTION, "max_messages": 10},
                    timeout=2,
                    retry=None,
                )
            except api_exceptions.GoogleAPICallError:
                continue
            if not response.received_messages:
                self._stop.wait(0.02)
            for received in response.received_messages:
                self._deliver(received.ack_id, received.message)

    def _deliver(self, ack_id: str, message: pubsub_types.PubsubMessage) -> None:
        data: bytes = message.data
        path = str(json.loads(data).get("path", ""))
        blob = self.storage.bucket(BUCKET).blob(path)
        answer = self.answers.get(Path(path).name)
        if answer is not None and blob.exists():
            self.vision.add_image(f"gs://{BUCKET}/{path}", answer)
        statuses = []
        for _ in range(self.repeat):
            reply = self.function.post("/", json=push_body(data, message.message_id))
            statuses.append(reply.status_code)
        self.delivered.append(path)
        if all(status in ACK_STATUSES for status in statuses):
            self.subscriber.acknowledge(
                request={"subscription": PUSH_SUBSCRIPTION, "ack_ids": [ack_id]}
            )
        else:
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": PUSH_SUBSCRIPTION,
                    "ack_ids": [ack_id],
                    "ack_deadline_seconds": 0,
                }
            )
            self._stop.wait(0.05)  # Pub/Sub's retry policy backs off; so does this one


@pytest.fixture
def delivery(
    environment: None, storage_client: StorageClient, vision: FakeVision
) -> Iterator[Delivery]:
    app = create_app("label_image", str(FUNCTION_SOURCE), "cloudevent")
    subscriber = SubscriberClient()
    running = Delivery(app.test_client(), subscriber, storage_client, vision).start()
    try:
        yield running
    finally:
        running.stop()
        subscriber.close()
