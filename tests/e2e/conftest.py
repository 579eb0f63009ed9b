"""The delivery path end to end on Google's real Pub/Sub emulator.

One emulator for the whole session (`pubsub_emulator`), one Vision fake for the session (URIs are
unique per test, as every test has its own project and so its own bucket name); per test, in its own
emulator project: the stack's topology provisioned exactly as `make local` provisions it
(ops/local.py from infra/topology.py), a real functions-framework process with the deployed
environment, and a PushRecorder between the push subscription and the function to see the wire.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.pubsub_v1 import types as pubsub_types

from bench.fakes.vision import FakeImage, FakeVision
from infra.settings import Settings, load_settings
from infra.topology import Topology, topology
from ops import local
from ops.emulators import PubSubEmulator, pubsub_clients
from ops.function_server import FunctionServer
from tests.fakes.push_recorder import PushRecorder

# Small backoff and the fewest delivery attempts the stack allows (5; the default is 30, see
# docs/overload.md), so a forever-failing message is dead-lettered in seconds: the emulator spaces
# redeliveries about 3 s apart whatever the backoff. Everything else is the stack's default (the
# deployed THREADS and timeouts).
E2E_CONFIG = {
    "minimumBackoffSeconds": "0",
    "maximumBackoffSeconds": "1",
    "maxDeliveryAttempts": "5",
}


@pytest.fixture(scope="session")
def vision() -> Iterator[FakeVision]:
    fake = FakeVision()
    with fake.server():
        yield fake


@dataclass
class Pipeline:
    project: str
    settings: Settings
    declared: Topology
    publisher: PublisherClient
    subscriber: SubscriberClient
    recorder: PushRecorder
    function: FunctionServer
    vision: FakeVision

    def subscription_path(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    @property
    def push_subscription(self) -> str:
        return self.subscription_path(self.declared.push_subscription.name)

    @property
    def results_subscription(self) -> str:
        return self.subscription_path(self.declared.results_subscription.name)

    @property
    def dead_letter_subscription(self) -> str:
        return self.subscription_path(self.declared.dead_letter_subscription.name)

    def image(self, path: str, answer: FakeImage | None = None) -> str:
        """Registers what Vision answers for gs://<bucket>/<path>; returns the URI."""
        uri = f"gs://{self.settings.buckets.images}/{path}"
        self.vision.add_image(uri, answer)
        return uri

    def publish(self, payload: Any, **attributes: str) -> bytes:
        """Publishes to the real new-image topic; returns the message's data."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        topic = f"projects/{self.project}/topics/{self.declared.new_image_topic.name}"
        self.publisher.publish(topic, data, **attributes).result(timeout=30)
        return data

    def pull(
        self, subscription: str, count: int, timeout: float = 30.0
    ) -> list[pubsub_types.ReceivedMessage]:
        """Pulls (and acknowledges) until `count` messages came or `timeout` passed."""
        received: list[pubsub_types.ReceivedMessage] = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            response = self.subscriber.pull(
                request={"subscription": subscription, "max_messages": 10},
                timeout=max(0.5, min(10.0, deadline - time.monotonic())),
                retry=None,
            )
            if response.received_messages:
                received.extend(response.received_messages)
                self.subscriber.acknowledge(
                    request={
                        "subscription": subscription,
                        "ack_ids": [item.ack_id for item in response.received_messages],
                    }
                )
            else:
                time.sleep(0.05)
        return received

    def results(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        return [
            json.loads(item.message.data)
            for item in self.pull(self.results_subscription, count, timeout)
        ]


@contextlib.contextmanager
def running_pipeline(
    emulator: PubSubEmulator,
    project: str,
    vision: FakeVision,
    config: Mapping[str, str] = E2E_CONFIG,
) -> Iterator[Pipeline]:
    """The function and the stack's topology in `project` on `emulator`, as make local runs them."""
    settings = load_settings(project, None, dict(config), stack="e2e")
    declared = topology(settings)
    publisher, subscriber = pubsub_clients(emulator.host)
    function = FunctionServer(local.function_environment(settings, vision.host, emulator.host))
    try:
        with function, PushRecorder(function.url) as recorder:
            local.provision(publisher, subscriber, project, declared, recorder.url)
            yield Pipeline(
                project, settings, declared, publisher, subscriber, recorder, function, vision
            )
    finally:
        subscriber.close()


@pytest.fixture
def pipeline(
    pubsub_emulator: PubSubEmulator, emulator_project: str, vision: FakeVision
) -> Iterator[Pipeline]:
    with running_pipeline(pubsub_emulator, emulator_project, vision) as running:
        yield running
