"""Each rule of the User-Service's pack, on the resources it is about."""

from typing import Any

import pytest
from pack_harness import judge, judge_stack
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


# --- The AI-Service's resources are the AI stack's to grant on (issue 18) ------------------------

AI_PROJECT = "bike-share-ai"
AI_IMAGES = f"{AI_PROJECT}-ai-service-images"
ON_AI_RESOURCES = "no-grants-on-the-ai-service-resources"
IN_USE = "no-grants-on-the-ai-service-resources-in-use"
TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        # Forged verdicts: publishing results.
        (
            TOPIC_IAM,
            {
                "topic": "ai-service-image-labeled",
                "role": "roles/pubsub.publisher",
                "member": RUNTIME,
            },
        ),
        (
            "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
            {
                "topic": f"projects/{AI_PROJECT}/topics/ai-service-image-labeled",
                "role": "roles/pubsub.publisher",
                "members": ["user:evil@example.com"],
            },
        ),
        # The contract's own grant, made from the wrong side.
        (
            TOPIC_IAM,
            {
                "topic": "user-service-new-image",
                "role": "roles/pubsub.publisher",
                "member": RUNTIME,
            },
        ),
        (
            "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
            {
                "subscription": "user-service-image-labeled",
                "role": "roles/pubsub.subscriber",
                "member": RUNTIME,
            },
        ),
        (
            "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
            {
                "subscription": "ai-service-image-labeling-push",
                "role": "roles/pubsub.subscriber",
                "member": RUNTIME,
            },
        ),
        # Reading the images.
        (
            BUCKET_IAM,
            {"bucket": AI_IMAGES, "role": "roles/storage.objectViewer", "member": RUNTIME},
        ),
        (
            BUCKET_IAM,
            {"bucket": f"b/{AI_IMAGES}", "role": "roles/storage.objectAdmin", "member": RUNTIME},
        ),
        (
            "gcp:storage/managedFolderIamMember:ManagedFolderIamMember",
            {
                "bucket": AI_IMAGES,
                "managedFolder": "uploads/",
                "role": "roles/storage.objectViewer",
                "member": RUNTIME,
            },
        ),
        (
            "gcp:storage/bucketAccessControl:BucketAccessControl",
            {"bucket": AI_IMAGES, "role": "READER", "entity": "user-evil@example.com"},
        ),
        # Its function and its accounts.
        (
            INVOKER,
            {
                "name": f"projects/{AI_PROJECT}/locations/us-central1/services/ai-service-image-labeling",
                "role": "roles/run.invoker",
                "member": RUNTIME,
            },
        ),
        (
            "gcp:serviceaccount/iAMMember:IAMMember",
            {
                "serviceAccountId": f"projects/{AI_PROJECT}/serviceAccounts/"
                f"ai-service-sa@{AI_PROJECT}.iam.gserviceaccount.com",
                "role": "roles/iam.serviceAccountTokenCreator",
                "member": RUNTIME,
            },
        ),
    ],
)
def test_no_grant_on_the_ai_service_resources(resource_type: str, props: dict[str, Any]) -> None:
    [message] = judge(resource_type, props)[ON_AI_RESOURCES]
    assert "the AI-Service stack's to make" in message
    assert "ai-service:userServiceAccount" in message


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (
            TOPIC_IAM,
            {
                "topic": "user-service-results-dead-letter",
                "role": "roles/pubsub.publisher",
                "member": "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com",
            },
        ),
        (
            "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
            {
                "subscription": "user-service-results-push",
                "role": "roles/pubsub.subscriber",
                "member": "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com",
            },
        ),
        (
            BUCKET_IAM,
            {
                "bucket": "p-user-service-source",
                "role": "roles/storage.objectViewer",
                "member": RUNTIME,
            },
        ),
    ],
)
def test_grants_on_the_stacks_own_resources_pass(resource_type: str, props: dict[str, Any]) -> None:
    assert judge(resource_type, props) == {}


def service_function(
    project: Any = "p", location: Any = "us-central1", **environment: str
) -> tuple[str, str, dict[str, Any]]:
    props = function("user-service", "ALLOW_ALL", **environment)
    return FUNCTION, "urn:function", props | {"project": project, "location": location}


def test_no_grant_on_what_the_service_uses_from_the_ai_service_whatever_its_name() -> None:
    """The images bucket and topics may be named otherwise (ai-service:imagesBucket): the function's
    configuration and the topics it subscribes to name them."""
    stack = [
        service_function(BUCKET_NAME="team-photos", NEW_IMAGE_TOPIC="uploads-announced"),
        (
            "gcp:pubsub/subscription:Subscription",
            "urn:results",
            {"name": "user-service-results-push", "topic": "projects/ai/topics/verdicts"},
        ),
        ("gcp:pubsub/topic:Topic", "urn:dead", {"name": "user-service-results-dead-letter"}),
    ]
    grants = [
        (BUCKET_IAM, "urn:bucket", {"bucket": "team-photos", "role": "roles/storage.objectViewer"}),
        (TOPIC_IAM, "urn:new", {"topic": "uploads-announced", "role": "roles/pubsub.publisher"}),
        (TOPIC_IAM, "urn:verdicts", {"topic": "verdicts", "role": "roles/pubsub.publisher"}),
        (
            "gcp:storage/defaultObjectACL:DefaultObjectACL",
            "urn:acl",
            {"bucket": "team-photos", "roleEntities": ["READER:user-x@example.com"]},
        ),
    ]
    for grant in grants:
        [(urn, message)] = judge_stack([*stack, (*grant[:2], grant[2] | {"member": RUNTIME})])[
            IN_USE
        ]
        assert urn == grant[1]
        assert "the AI-Service stack's to make" in message
    own = (TOPIC_IAM, "urn:own", {"topic": "user-service-results-dead-letter", "member": RUNTIME})
    assert judge_stack([*stack, own]) == {}


# --- The one public grant, pinned (issue 18) -------------------------------------------------------

PINNED = "public-invoker-is-this-stacks-service"


def public_invoker(name: str, **where: str) -> tuple[str, str, dict[str, Any]]:
    props = {"name": name, "role": "roles/run.invoker", "member": "allUsers", **where}
    return INVOKER, "urn:public", props


def test_the_public_invoker_on_the_stacks_own_service_passes() -> None:
    assert judge_stack([service_function(), public_invoker(SERVICE)]) == {}
    bare = public_invoker("user-service", project="p", location="us-central1")
    assert judge(*bare[::2]) == {}
    assert judge_stack([service_function(), bare]) == {}


@pytest.mark.parametrize(
    "invoker",
    [
        public_invoker("projects/other/locations/us-central1/services/user-service"),
        public_invoker("projects/p/locations/europe-west1/services/user-service"),
        public_invoker("user-service", project="other", location="us-central1"),
    ],
)
def test_a_public_invoker_on_a_namesake_elsewhere_is_refused(
    invoker: tuple[str, str, dict[str, Any]],
) -> None:
    [(urn, message)] = judge_stack([service_function(), invoker])[PINNED]
    assert urn == "urn:public"
    assert "projects/p/locations/us-central1/services/user-service" in message


def test_a_public_invoker_without_the_service_is_refused() -> None:
    [(_urn, message)] = judge_stack([public_invoker(SERVICE)])[PINNED]
    assert "deploys no 'user-service'" in message


@pytest.mark.parametrize(
    "props",
    [
        # A bare name: the project is whatever the provider's is.
        {"name": "user-service"},
        {"name": "user-service", "project": "p"},
        # The name and the project or location disagree.
        {"name": SERVICE, "project": "other"},
        {"name": SERVICE, "location": "europe-west1"},
    ],
)
def test_the_public_invoker_names_its_project_and_location(props: dict[str, Any]) -> None:
    verdict = judge(INVOKER, props | {"role": "roles/run.invoker", "member": "allUsers"})
    [message] = verdict["public-invoker-only-for-the-user-service"]
    assert "named with its project and location" in message


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "roleEntities": ["READER:allUsers"]}),
        ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "predefinedAcl": "publicRead"}),
        (
            "gcp:storage/objectAccessControl:ObjectAccessControl",
            {"bucket": "b", "object": "o", "entity": "allAuthenticatedUsers"},
        ),
        (
            "gcp:storage/defaultObjectACL:DefaultObjectACL",
            {"bucket": "b", "roleEntities": ["READER:allAuthenticatedUsers"]},
        ),
    ],
)
def test_no_public_acl(resource_type: str, props: dict[str, Any]) -> None:
    [message] = judge(resource_type, props)["public-invoker-only-for-the-user-service"]
    assert "makes objects public" in message


# --- The local push token is never deployed (issue 18) -------------------------------------------

LOCAL_ONLY = "no-local-only-settings-deployed"


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (
            "gcp:cloudrunv2/service:Service",
            {
                "name": "user-service",
                "template": {
                    "containers": [
                        {"image": "i", "envs": [{"name": "A", "value": "1"}]},
                        {"image": "j", "envs": [{"name": "LOCAL_PUSH_TOKEN", "value": "x" * 20}]},
                    ]
                },
            },
        ),
        (
            "gcp:cloudrun/service:Service",
            {
                "name": "user-service",
                "template": {
                    "spec": {"containers": [{"envs": [{"name": "LOCAL_PUSH_TOKEN", "value": "x"}]}]}
                },
            },
        ),
        (
            FUNCTION,
            {
                "name": "user-service",
                "serviceConfig": {
                    "ingressSettings": "ALLOW_ALL",
                    "secretEnvironmentVariables": [
                        {"key": "LOCAL_PUSH_TOKEN", "secret": "s", "version": "latest"}
                    ],
                },
            },
        ),
        (
            FUNCTION,
            {
                "name": "user-service",
                "serviceConfig": {"ingressSettings": "ALLOW_ALL"},
                "buildConfig": {"environmentVariables": {"LOCAL_PUSH_TOKEN": "x"}},
            },
        ),
        (
            "gcp:cloudfunctions/function:Function",
            {"name": "user-service", "environmentVariables": {"LOCAL_PUSH_TOKEN": "x"}},
        ),
    ],
)
def test_the_local_push_token_is_refused_in_every_deployed_environment(
    resource_type: str, props: dict[str, Any]
) -> None:
    [message] = judge(resource_type, props)[LOCAL_ONLY]
    assert "LOCAL_PUSH_TOKEN is for local runs" in message


def test_a_cloud_run_service_without_local_settings_passes_that_rule() -> None:
    service = {"name": "s", "template": {"containers": [{"envs": [{"name": "BUCKET_NAME"}]}]}}
    assert LOCAL_ONLY not in judge("gcp:cloudrunv2/service:Service", service)
