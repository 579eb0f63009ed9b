"""One declaration of the Pub/Sub topology (infra/topology.py): the stack and `make local` both read it."""

from __future__ import annotations

from typing import Any

import pytest

from infra.settings import load_settings
from infra.topology import Topology, topology
from ops import local
from tests.infra.harness import PROJECT_ID, ProgramRun, run_program

SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
TOPIC = "gcp:pubsub/topic:Topic"
# Not the defaults, so a value the stack or make local hard-coded instead of reading would show.
TUNED = {
    "maxDeliveryAttempts": "7",
    "minimumBackoffSeconds": "3",
    "maximumBackoffSeconds": "30",
    "functionTimeoutSeconds": "120",
}
LOCAL_ENDPOINT = "http://127.0.0.1:8080/"


@pytest.fixture(scope="module")
def tuned_run() -> ProgramRun:
    return run_program(TUNED)


@pytest.fixture(scope="module")
def declared() -> Topology:
    return topology(load_settings(PROJECT_ID, None, TUNED))


def test_the_stack_creates_exactly_the_declared_topics(
    tuned_run: ProgramRun, declared: Topology
) -> None:
    names = sorted(registration.inputs["name"] for registration in tuned_run.of_type(TOPIC))
    assert names == sorted(topic.name for topic in declared.topics)


def test_every_subscription_of_the_stack_is_the_declared_one(
    tuned_run: ProgramRun, declared: Topology
) -> None:
    assert len(tuned_run.of_type(SUBSCRIPTION)) == len(declared.subscriptions)
    for subscription in declared.subscriptions:
        inputs: dict[str, Any] = tuned_run.one(SUBSCRIPTION, name=subscription.name).inputs
        assert inputs["topic"] == f"projects/{PROJECT_ID}/topics/{subscription.topic}"
        assert inputs["ackDeadlineSeconds"] == subscription.ack_deadline_seconds
        assert inputs["messageRetentionDuration"] == subscription.retention
        assert inputs["expirationPolicy"] == {"ttl": ""}
        assert ("pushConfig" in inputs) == (subscription.push is not None), subscription.name
        if subscription.retry_policy is None:
            assert "retryPolicy" not in inputs
        else:
            assert inputs["retryPolicy"] == {
                "minimumBackoff": f"{subscription.retry_policy.minimum_backoff_seconds}s",
                "maximumBackoff": f"{subscription.retry_policy.maximum_backoff_seconds}s",
            }
        if subscription.dead_letter_policy is None:
            assert "deadLetterPolicy" not in inputs
        else:
            assert inputs["deadLetterPolicy"] == {
                "deadLetterTopic": f"projects/{PROJECT_ID}/topics/{subscription.dead_letter_policy.topic}",
                "maxDeliveryAttempts": subscription.dead_letter_policy.max_delivery_attempts,
            }


def test_the_declaration_follows_the_settings(declared: Topology) -> None:
    push = declared.push_subscription
    assert push.ack_deadline_seconds == 120
    assert push.retry_policy is not None
    assert push.dead_letter_policy is not None
    assert (
        push.retry_policy.minimum_backoff_seconds,
        push.retry_policy.maximum_backoff_seconds,
    ) == (
        3,
        30,
    )
    assert push.dead_letter_policy.max_delivery_attempts == 7
    assert push.dead_letter_policy.topic == declared.dead_letter_topic.name


def test_make_local_asks_the_emulator_for_what_the_stack_declares(
    tuned_run: ProgramRun, declared: Topology
) -> None:
    """ops/local.py's CreateSubscription requests, field by field against the stack's inputs."""
    for subscription in declared.subscriptions:
        stack: dict[str, Any] = tuned_run.one(SUBSCRIPTION, name=subscription.name).inputs
        request = local.subscription_request(PROJECT_ID, subscription, LOCAL_ENDPOINT)
        assert request["name"] == f"projects/{PROJECT_ID}/subscriptions/{stack['name']}"
        assert request["topic"] == stack["topic"]
        assert request["ack_deadline_seconds"] == stack["ackDeadlineSeconds"]
        assert (
            f"{request['message_retention_duration']['seconds']}s"
            == (stack["messageRetentionDuration"])
        )
        assert ("expiration_policy" in request) == (stack["expirationPolicy"] == {"ttl": ""})
        if "retryPolicy" in stack:
            retry = request["retry_policy"]
            assert {
                "minimumBackoff": f"{retry['minimum_backoff']['seconds']}s",
                "maximumBackoff": f"{retry['maximum_backoff']['seconds']}s",
            } == stack["retryPolicy"]
        else:
            assert "retry_policy" not in request
        if "deadLetterPolicy" in stack:
            dead_letter = request["dead_letter_policy"]
            assert {
                "deadLetterTopic": dead_letter["dead_letter_topic"],
                "maxDeliveryAttempts": dead_letter["max_delivery_attempts"],
            } == stack["deadLetterPolicy"]
        else:
            assert "dead_letter_policy" not in request
        if "pushConfig" in stack:
            # Same identity; the endpoint is the function wherever it runs.
            oidc = request["push_config"]["oidc_token"]
            assert (
                oidc["service_account_email"]
                == stack["pushConfig"]["oidcToken"]["serviceAccountEmail"]
            )
            assert request["push_config"]["push_endpoint"] == oidc["audience"] == LOCAL_ENDPOINT
        else:
            assert "push_config" not in request


def test_no_subscription_of_the_stack_has_a_filter(default_run: ProgramRun) -> None:
    """The emulator does not enforce filters (tests/e2e/test_emulator_gaps.py): we use none."""
    for registration in default_run.of_type(SUBSCRIPTION):
        assert not registration.inputs.get("filter"), registration.urn


def test_make_local_runs_the_function_with_the_environment_the_stack_deploys(
    default_run: ProgramRun,
) -> None:
    deployed = default_run.one("gcp:cloudfunctionsv2/function:Function").inputs["serviceConfig"][
        "environmentVariables"
    ]
    settings = load_settings(PROJECT_ID, None, {})
    environment = local.function_environment(settings, "127.0.0.1:1", "127.0.0.1:2")
    assert {name: environment[name] for name in deployed} == deployed
    assert environment["THREADS"] == deployed["THREADS"] == "80"
    assert set(environment) - set(deployed) == {"VISION_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"}
