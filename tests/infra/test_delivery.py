"""Delivery: push to the run.app URL with OIDC, backoff, bounded attempts, dead letters kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.harness import PROJECT_ID, ProgramRun, Registration, run_program

SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
URI = "https://ai-service-image-labeling-7g5hx2aq-uc.a.run.app"
INVOKER_EMAIL = f"ai-service-invoker@{PROJECT_ID}.iam.gserviceaccount.com"
DEAD_LETTER_TOPIC = f"projects/{PROJECT_ID}/topics/ai-service-image-labeling-dead-letter"


def push(run: ProgramRun) -> Registration:
    return run.one(SUBSCRIPTION, name="ai-service-image-labeling-push")


def test_push_goes_to_the_function_run_app_uri_with_an_oidc_token(
    default_run: ProgramRun,
) -> None:
    config: dict[str, Any] = push(default_run).inputs["pushConfig"]
    assert config["pushEndpoint"] == URI
    assert config["oidcToken"] == {"serviceAccountEmail": INVOKER_EMAIL, "audience": URI}


def test_ack_deadline_covers_the_function_timeout(default_run: ProgramRun) -> None:
    subscription = push(default_run)
    assert subscription.inputs["ackDeadlineSeconds"] >= 60, subscription.urn


def test_ack_deadline_follows_a_longer_function_timeout() -> None:
    run = run_program({"functionTimeoutSeconds": "300"})
    assert push(run).inputs["ackDeadlineSeconds"] == 300


def test_retry_policy_backs_off_exponentially_from_10s_to_600s(default_run: ProgramRun) -> None:
    assert push(default_run).inputs["retryPolicy"] == {
        "minimumBackoff": "10s",
        "maximumBackoff": "600s",
    }


def test_dead_letter_policy_bounds_attempts(default_run: ProgramRun) -> None:
    assert push(default_run).inputs["deadLetterPolicy"] == {
        "deadLetterTopic": DEAD_LETTER_TOPIC,
        "maxDeliveryAttempts": 30,
    }


@pytest.mark.parametrize("attempts", ["5", "42", "100"])
def test_dead_letter_attempts_come_from_config(attempts: str) -> None:
    policy = push(run_program({"maxDeliveryAttempts": attempts})).inputs["deadLetterPolicy"]
    assert policy["maxDeliveryAttempts"] == int(attempts)


def test_dead_letter_topic_has_its_own_subscription(default_run: ProgramRun) -> None:
    subscription = default_run.one(SUBSCRIPTION, topic=DEAD_LETTER_TOPIC)
    assert subscription.inputs["name"] == "ai-service-image-labeling-dead-letter"
    assert "pushConfig" not in subscription.inputs, "dead letters are pulled by operators"


def test_user_service_reads_results_from_a_pull_subscription(default_run: ProgramRun) -> None:
    subscription = default_run.one(
        SUBSCRIPTION, topic=f"projects/{PROJECT_ID}/topics/ai-service-image-labeled"
    )
    assert subscription.inputs["name"] == "user-service-image-labeled"
    assert "pushConfig" not in subscription.inputs


def test_subscriptions_never_expire(default_run: ProgramRun) -> None:
    for subscription in default_run.of_type(SUBSCRIPTION):
        assert subscription.inputs["expirationPolicy"] == {"ttl": ""}, subscription.urn


def test_push_subscription_waits_for_the_grants_it_needs(default_run: ProgramRun) -> None:
    subscription = push(default_run)
    for type_token in (
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        "gcp:serviceaccount/iAMMember:IAMMember",
        "gcp:pubsub/topicIAMMember:TopicIAMMember",
    ):
        for grant in default_run.of_type(type_token):
            if grant.urn.split("::")[-1].startswith("delivery-"):
                assert default_run.depends_on(subscription, grant), (
                    f"{subscription.urn} does not wait for {grant.urn}"
                )
