"""Ordering: APIs before their users, IAM propagated before the build, components as parents."""

from __future__ import annotations

import pytest

from tests.infra.harness import ProgramRun, Registration, run_program

SLEEP = "time:index/sleep:Sleep"
SERVICE = "gcp:projects/service:Service"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"

# Which APIs each resource type needs enabled before it can be created.
APIS_BY_TYPE = {
    "gcp:serviceaccount/account:Account": ["iam"],
    "gcp:pubsub/topic:Topic": ["pubsub"],
    "gcp:pubsub/subscription:Subscription": ["pubsub"],
    "gcp:storage/bucket:Bucket": ["storage"],
    "gcp:storage/bucketObject:BucketObject": ["storage"],
    "gcp:artifactregistry/repository:Repository": ["artifactregistry"],
    FUNCTION: ["cloudfunctions", "run", "cloudbuild", "artifactregistry", "vision", "logging"],
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ["run"],
    "gcp:projects/iAMMember:IAMMember": ["cloudresourcemanager"],
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": ["cloudresourcemanager"],
    "gcp:pubsub/topicIAMMember:TopicIAMMember": ["pubsub"],
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": ["pubsub"],
    "gcp:storage/bucketIAMMember:BucketIAMMember": ["storage"],
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": ["artifactregistry"],
    "gcp:serviceaccount/iAMMember:IAMMember": ["iam"],
    "gcp:projects/serviceIdentity:ServiceIdentity": ["pubsub"],
    "gcp:logging/metric:Metric": ["logging"],
    "gcp:monitoring/notificationChannel:NotificationChannel": ["monitoring"],
    "gcp:monitoring/alertPolicy:AlertPolicy": ["monitoring", "logging"],
    "gcp:monitoring/dashboard:Dashboard": ["monitoring", "logging"],
}


def api(run: ProgramRun, name: str) -> Registration:
    return run.one(SERVICE, service=f"{name}.googleapis.com")


def sleep(run: ProgramRun, prefix: str) -> Registration:
    found = [item for item in run.of_type(SLEEP) if item.name.startswith(prefix)]
    assert len(found) == 1, [item.urn for item in found]
    return found[0]


def test_apis_are_enabled_and_left_on_at_destroy(default_run: ProgramRun) -> None:
    services = default_run.of_type(SERVICE)
    enabled = {item.inputs["service"].split(".")[0] for item in services}
    assert enabled >= {
        "vision", "pubsub", "cloudfunctions", "run", "cloudbuild", "artifactregistry",
        "storage", "iam", "logging", "cloudresourcemanager", "monitoring",
    }  # fmt: skip
    for item in services:
        assert item.inputs["disableOnDestroy"] is False, item.urn


def test_every_cloud_resource_waits_for_its_apis_and_their_propagation(
    default_run: ProgramRun,
) -> None:
    propagation = sleep(default_run, "apis-")
    for item in default_run.custom():
        if item.type in (SERVICE, SLEEP):
            continue
        assert item.type in APIS_BY_TYPE, f"{item.urn}: no API mapping for {item.type}"
        assert default_run.depends_on(item, propagation), f"{item.urn} skips the API wait"
        for name in APIS_BY_TYPE[item.type]:
            assert default_run.depends_on(item, api(default_run, name)), (
                f"{item.urn} does not wait for {name}.googleapis.com"
            )


def test_api_wait_follows_every_api(default_run: ProgramRun) -> None:
    propagation = sleep(default_run, "apis-")
    for service in default_run.of_type(SERVICE):
        assert service.urn in propagation.dependencies, f"wait does not follow {service.urn}"


def test_function_is_built_only_after_its_grants_have_propagated(default_run: ProgramRun) -> None:
    function = default_run.one(FUNCTION)
    propagation = sleep(default_run, "access-")
    assert default_run.depends_on(function, propagation), f"{function.urn} skips the IAM wait"
    grants = [
        item
        for item in default_run.custom()
        if item.name.startswith("access-") and item.type != SLEEP
    ]
    assert len(grants) == 6
    for grant in grants:
        assert grant.urn in propagation.dependencies, f"the IAM wait ignores {grant.urn}"


@pytest.mark.parametrize("seconds", ["0", "120"])
def test_propagation_waits_are_configurable(seconds: str) -> None:
    run = run_program(
        {
            "apiPropagationSeconds": seconds,
            "iamPropagationSeconds": seconds,
            "metricPropagationSeconds": seconds,
        }
    )
    for item in run.of_type(SLEEP):
        assert item.inputs["createDuration"] == f"{seconds}s", item.urn


def test_components_parent_their_resources(default_run: ProgramRun) -> None:
    components = {item.urn for item in default_run.registrations if not item.custom}
    assert len(components) == 10
    for item in default_run.custom():
        assert item.parent in components, f"{item.urn} is not inside a component"


def test_push_subscription_starts_only_after_its_grants_have_propagated(
    default_run: ProgramRun,
) -> None:
    subscription = default_run.one(
        "gcp:pubsub/subscription:Subscription", name="ai-service-image-labeling-push"
    )
    propagation = sleep(default_run, "delivery-")
    assert default_run.depends_on(subscription, propagation), (
        f"{subscription.urn} can push before its grants apply"
    )
    waited_for = {
        (grant.type, grant.inputs["role"])
        for grant in default_run.custom()
        if grant.urn in propagation.dependencies
    }
    assert waited_for == {
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "roles/run.invoker"),
        ("gcp:serviceaccount/iAMMember:IAMMember", "roles/iam.serviceAccountTokenCreator"),
        ("gcp:pubsub/topicIAMMember:TopicIAMMember", "roles/pubsub.publisher"),
    }


def test_propagation_waits_run_on_first_create_only(default_run: ProgramRun) -> None:
    # time.Sleep waits when it is created; a trigger would make later `up`s wait again.
    for item in default_run.of_type(SLEEP):
        if item.name.startswith(("access-", "delivery-", "monitoring-")):
            assert not item.inputs.get("triggers"), item.urn
            assert not item.inputs.get("destroyDuration"), item.urn
