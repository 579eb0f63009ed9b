"""Cross-team contracts: fixed resource names, never auto-named."""

from __future__ import annotations

import pytest

from tests.infra.harness import PROJECT_ID, ProgramRun

TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
ACCOUNT = "gcp:serviceaccount/account:Account"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
BUCKET = "gcp:storage/bucket:Bucket"
REPOSITORY = "gcp:artifactregistry/repository:Repository"


def test_topics_have_the_contract_names(default_run: ProgramRun) -> None:
    names = sorted(item.inputs["name"] for item in default_run.of_type(TOPIC))
    assert names == [
        "ai-service-image-labeled",
        "ai-service-image-labeling-dead-letter",
        "user-service-new-image",
    ]


def test_subscriptions_have_fixed_names_on_the_right_topics(default_run: ProgramRun) -> None:
    topics = {
        item.inputs["name"]: item.inputs["topic"] for item in default_run.of_type(SUBSCRIPTION)
    }
    assert topics == {
        "ai-service-image-labeling-push": f"projects/{PROJECT_ID}/topics/user-service-new-image",
        "user-service-image-labeled": f"projects/{PROJECT_ID}/topics/ai-service-image-labeled",
        "ai-service-image-labeling-dead-letter": (
            f"projects/{PROJECT_ID}/topics/ai-service-image-labeling-dead-letter"
        ),
    }


def test_function_is_named_ai_service_image_labeling(default_run: ProgramRun) -> None:
    function = default_run.one(FUNCTION)
    assert function.inputs["name"] == "ai-service-image-labeling", function.urn
    assert function.inputs["location"] == "us-central1", function.urn


@pytest.mark.parametrize(
    "account_id", ["ai-service-sa", "ai-service-invoker", "ai-service-builder"]
)
def test_service_accounts_have_fixed_ids(default_run: ProgramRun, account_id: str) -> None:
    account = default_run.one(ACCOUNT, accountId=account_id)
    assert account.inputs["project"] == PROJECT_ID, account.urn


def test_exactly_three_service_accounts(default_run: ProgramRun) -> None:
    assert len(default_run.of_type(ACCOUNT)) == 3


def test_default_bucket_names_derive_from_the_project(default_run: ProgramRun) -> None:
    names = sorted(item.inputs["name"] for item in default_run.of_type(BUCKET))
    assert names == [f"{PROJECT_ID}-ai-service-images", f"{PROJECT_ID}-ai-service-source"]


def test_artifact_repository_has_a_fixed_name(default_run: ProgramRun) -> None:
    repository = default_run.one(REPOSITORY)
    assert repository.inputs["repositoryId"] == "ai-service-functions", repository.urn
    assert repository.inputs["format"] == "DOCKER", repository.urn
    assert repository.inputs["location"] == "us-central1", repository.urn


def test_every_named_resource_sets_its_name_explicitly(default_run: ProgramRun) -> None:
    for type_token in (TOPIC, SUBSCRIPTION, FUNCTION, BUCKET):
        for item in default_run.of_type(type_token):
            assert item.inputs.get("name"), f"{item.urn} has no explicit name"
