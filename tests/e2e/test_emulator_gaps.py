"""Where the emulator does not do what Pub/Sub does, seen here, and where that behaviour is covered.

Each test asserts the emulator's actual behaviour, so a newer emulator that closes a gap fails here and
the end-to-end suite can then start relying on it (shared/notes/emulators.md lists the same table).
"""

from __future__ import annotations

import time

import pytest
from google.pubsub_v1 import types as pubsub_types

from ops.emulators import PubSubEmulator
from tests.e2e.conftest import Pipeline
from tests.fakes.emulator import emulator_clients

pytestmark = pytest.mark.slow  # starts functions-framework processes


def test_no_oidc_token_is_sent_although_the_push_config_asks_for_one(pipeline: Pipeline) -> None:
    """Covered elsewhere: the stack's OIDC config by tests/infra/test_delivery.py
    (test_push_goes_to_the_function_run_app_uri_with_an_oidc_token), the invoker's right to call the
    function by tests/infra/test_iam.py (test_invoker_grant_is_on_the_cloud_run_service_in_the_region);
    the token itself is checked by Cloud Run, in front of the function, not by our code."""
    config = pipeline.subscriber.get_subscription(
        subscription=pipeline.push_subscription
    ).push_config
    assert config.oidc_token.service_account_email.startswith("ai-service-invoker@")
    pipeline.image("oidc.jpg")
    data = pipeline.publish({"id": 21, "path": "oidc.jpg"})

    [push] = pipeline.recorder.wait_for(data, 1, timeout=30)

    assert "authorization" not in push.headers, "the emulator now sends a token: test it here"


def test_the_push_body_has_no_delivery_attempt(pipeline: Pipeline) -> None:
    """Real Pub/Sub adds message.deliveryAttempt when a dead-letter policy is set. Nothing in
    function/ reads it; the attempt count that matters is Pub/Sub's own, asserted through
    CloudPubSubDeadLetterSourceDeliveryCount by test_delivery.py's dead-letter test."""
    assert pipeline.declared.push_subscription.dead_letter_policy is not None
    pipeline.image("attempt.jpg")
    data = pipeline.publish({"id": 22, "path": "attempt.jpg"})

    [push] = pipeline.recorder.wait_for(data, 1, timeout=30)

    message = push.json()["message"]
    assert "deliveryAttempt" not in message
    assert "delivery_attempt" not in message


def test_subscription_filters_are_accepted_but_not_enforced(
    pubsub_emulator: PubSubEmulator, emulator_project: str
) -> None:
    """The stack declares no filter (tests/infra/test_topology.py asserts it), so nothing of ours
    depends on one; a User-Service that filters on our `matched` attribute must test on Pub/Sub."""
    publisher, subscriber = emulator_clients(pubsub_emulator.host)
    topic = publisher.topic_path(emulator_project, "ai-service-image-labeled")
    subscription = subscriber.subscription_path(emulator_project, "only-matches")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(
        request={"name": subscription, "topic": topic, "filter": 'attributes.matched = "true"'}
    )
    try:
        publisher.publish(topic, b'{"id": 1}', matched="false").result(timeout=30)
        received: list[pubsub_types.ReceivedMessage] = []
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 10}, timeout=10, retry=None
            )
            received.extend(response.received_messages)
    finally:
        subscriber.close()

    assert [dict(item.message.attributes) for item in received] == [{"matched": "false"}], (
        "the emulator now enforces filters: test filtering here"
    )
