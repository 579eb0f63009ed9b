"""Each rule of the User-Service's pack, on the resources it is about."""

from typing import Any

import pytest
from pack_harness import judge
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
SERVICE = "projects/p/locations/us-central1/services/user-service"
RUNTIME = "serviceAccount:user-service@p.iam.gserviceaccount.com"


def function(name: str, ingress: Any, **environment: str) -> dict[str, Any]:
    config: dict[str, Any] = {"environmentVariables": environment}
    if ingress is not None:
        config["ingressSettings"] = ingress
    return {"name": name, "serviceConfig": config}


def test_the_user_service_may_be_public() -> None:
    assert judge(FUNCTION, function("user-service", "ALLOW_ALL")) == {}
    assert (
        judge(INVOKER, {"name": SERVICE, "role": "roles/run.invoker", "member": "allUsers"}) == {}
    )


@pytest.mark.parametrize("ingress", ["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB", None])
def test_no_other_function_may_be_public(ingress: Any) -> None:
    verdict = judge(FUNCTION, function("ai-service-image-labeling", ingress))
    assert list(verdict) == ["public-ingress-only-for-the-user-service"]


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (
            INVOKER,
            {
                "name": "projects/p/locations/r/services/ai-service-image-labeling",
                "role": "roles/run.invoker",
                "member": "allUsers",
            },
        ),
        (INVOKER, {"name": SERVICE, "role": "roles/run.admin", "member": "allUsers"}),
        (
            INVOKER,
            {"name": SERVICE, "role": "roles/run.invoker", "member": "allAuthenticatedUsers"},
        ),
        (
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            {"bucket": "images", "role": "roles/storage.objectViewer", "member": "allUsers"},
        ),
        (
            "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
            {"topic": "t", "role": "roles/pubsub.publisher", "members": ["allUsers"]},
        ),
        (
            "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy",
            {
                "topic": "t",
                "policyData": '{"bindings": [{"role": "roles/pubsub.publisher", "members": ["allUsers"]}]}',
            },
        ),
    ],
)
def test_nothing_else_may_be_granted_to_the_public(
    resource_type: str, props: dict[str, Any]
) -> None:
    assert "public-invoker-only-for-the-user-service" in judge(resource_type, props)


def test_project_wide_grants_only_for_what_has_no_narrower_resource() -> None:
    assert (
        judge(PROJECT_MEMBER, {"project": "p", "role": "roles/datastore.user", "member": RUNTIME})
        == {}
    )
    assert list(
        judge(
            PROJECT_MEMBER, {"project": "p", "role": "roles/storage.objectAdmin", "member": RUNTIME}
        )
    ) == ["project-iam-only-without-narrower-resource"]
    unconditioned = judge(
        PROJECT_MEMBER, {"project": "p", "role": "roles/storage.objectViewer", "member": RUNTIME}
    )
    assert list(unconditioned) == ["project-iam-only-without-narrower-resource"]
    bucket = "projects/_/buckets/gcf-v2-sources-1-europe-west1"
    conditioned = {
        "title": "t",
        "expression": f'resource.name == "{bucket}" || resource.name.startsWith("{bucket}/objects/")',
    }
    assert (
        judge(
            PROJECT_MEMBER,
            {
                "project": "p",
                "role": "roles/storage.objectViewer",
                "member": RUNTIME,
                "condition": conditioned,
            },
        )
        == {}
    )
    assert "iam-no-primitive-roles" in judge(
        PROJECT_MEMBER, {"project": "p", "role": "roles/editor", "member": RUNTIME}
    )


@pytest.mark.parametrize(
    "expression",
    [
        # A bare name prefix: also europe-west10's bucket (the AI stack's issue 17 finding 6).
        'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-1-europe-west1")',
        'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")',
        'resource.name.startsWith("projects/_/buckets/")',
        # An extra term that widens it.
        'resource.name == "projects/_/buckets/gcf-v2-sources-1-r" || true',
        "",
    ],
)
def test_a_conditioned_project_reader_must_name_whole_buckets(expression: str) -> None:
    verdict = judge(
        PROJECT_MEMBER,
        {
            "project": "p",
            "role": "roles/storage.objectViewer",
            "member": RUNTIME,
            "condition": {"title": "t", "expression": expression},
        },
    )
    [message] = verdict["project-iam-only-without-narrower-resource"]
    assert 'resource.name.startsWith("projects/_/buckets/BUCKET/objects/")' in message


def test_the_local_push_token_and_emulator_hosts_are_never_deployed() -> None:
    verdict = judge(FUNCTION, function("user-service", "ALLOW_ALL", LOCAL_PUSH_TOKEN="x" * 20))
    assert list(verdict) == ["no-local-only-settings-deployed"]
    verdict = judge(
        FUNCTION, function("user-service", "ALLOW_ALL", PUBSUB_EMULATOR_HOST="127.0.0.1:1")
    )
    assert list(verdict) == ["no-local-only-settings-deployed"]


def test_push_subscriptions_need_oidc_and_a_dead_letter_topic() -> None:
    bare = {"topic": "t", "pushConfig": {"pushEndpoint": "https://x"}}
    assert judge("gcp:pubsub/subscription:Subscription", bare)[
        "push-subscriptions-oidc-and-dead-letter"
    ] == [
        "gcp:pubsub/subscription:Subscription 'subject': a push subscription must send an OIDC token of a push account",
        "gcp:pubsub/subscription:Subscription 'subject': a push subscription must dead-letter what it cannot deliver",
    ]


def test_keys_and_public_buckets_are_refused() -> None:
    assert "no-keys" in judge("gcp:serviceaccount/key:Key", {"serviceAccountId": "x"})
    assert "buckets-private-and-uniform" in judge(
        "gcp:storage/bucket:Bucket", {"publicAccessPrevention": "inherited"}
    )


def test_values_unknown_in_preview_are_not_judged() -> None:
    assert (
        judge(
            FUNCTION,
            {"name": UNKNOWN_STRING_VALUE, "serviceConfig": {"ingressSettings": "ALLOW_ALL"}},
        )
        == {}
    )
    assert (
        judge(
            INVOKER,
            {"name": UNKNOWN_STRING_VALUE, "role": "roles/run.invoker", "member": "allUsers"},
        )
        == {}
    )
