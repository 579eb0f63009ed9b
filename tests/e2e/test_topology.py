"""make local's provisioning, read back from the real emulator: what infra/topology.py declares."""

from __future__ import annotations

from infra.settings import load_settings
from infra.topology import topology
from ops import local
from ops.emulators import PubSubEmulator, pubsub_clients

ENDPOINT = "http://127.0.0.1:9/"  # never pushed to: nothing is published here


def test_the_emulator_holds_exactly_the_declared_topics_and_subscriptions(
    pubsub_emulator: PubSubEmulator, emulator_project: str
) -> None:
    settings = load_settings(
        emulator_project, None, {"maxDeliveryAttempts": "6", "minimumBackoffSeconds": "2"}
    )
    declared = topology(settings)
    publisher, subscriber = pubsub_clients(pubsub_emulator.host)
    try:
        local.provision(publisher, subscriber, emulator_project, declared, ENDPOINT)
        topics = sorted(
            topic.name for topic in publisher.list_topics(project=f"projects/{emulator_project}")
        )
        created = {
            subscription.name: subscription
            for subscription in subscriber.list_subscriptions(
                project=f"projects/{emulator_project}"
            )
        }
    finally:
        subscriber.close()

    assert topics == sorted(
        f"projects/{emulator_project}/topics/{topic.name}" for topic in declared.topics
    )
    assert len(created) == len(declared.subscriptions)
    for subscription in declared.subscriptions:
        got = created[f"projects/{emulator_project}/subscriptions/{subscription.name}"]
        assert got.topic == f"projects/{emulator_project}/topics/{subscription.topic}"
        assert got.ack_deadline_seconds == subscription.ack_deadline_seconds
        assert got.push_config.push_endpoint == (ENDPOINT if subscription.push else "")
    push = created[f"projects/{emulator_project}/subscriptions/{declared.push_subscription.name}"]
    assert push.dead_letter_policy.max_delivery_attempts == 6
    assert push.dead_letter_policy.dead_letter_topic == (
        f"projects/{emulator_project}/topics/{declared.dead_letter_topic.name}"
    )
    assert push.retry_policy.minimum_backoff.total_seconds() == 2
    assert push.retry_policy.maximum_backoff.total_seconds() == 600
