"""The emulator harness itself: what the end-to-end and outage tests rely on."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as api_exceptions

from ops.emulators import PubSubEmulator
from tests.fakes.emulator import emulator_clients


def test_projects_isolate_tests_on_the_shared_emulator(
    pubsub_emulator: PubSubEmulator, emulator_project: str
) -> None:
    publisher, _ = emulator_clients(pubsub_emulator.host)
    topic = publisher.topic_path(emulator_project, "user-service-new-image")
    publisher.create_topic(name=topic)
    other = publisher.topic_path(f"{emulator_project}-other", "user-service-new-image")
    with pytest.raises(api_exceptions.NotFound):
        publisher.get_topic(topic=other)
    assert publisher.get_topic(topic=topic).name == topic


def test_restart_comes_back_on_the_same_address_without_state(
    private_pubsub_emulator: PubSubEmulator,
) -> None:
    """Pub/Sub stopped and restarted: same host:port, every topic forgotten (emulators.md)."""
    publisher, _ = emulator_clients(private_pubsub_emulator.host)
    topic = publisher.topic_path("restart-project", "ai-service-image-labeled")
    publisher.create_topic(name=topic)
    address = private_pubsub_emulator.host
    private_pubsub_emulator.restart()
    assert private_pubsub_emulator.host == address
    with pytest.raises(api_exceptions.NotFound):
        publisher.get_topic(topic=topic, timeout=10)
