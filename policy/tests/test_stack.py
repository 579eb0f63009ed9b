"""The real stack, as the infra mocks register it, passes every policy of the pack: as it deploys
without a User-Service, and with one (ai-service:userServiceAccount and userServiceOrigins set)."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from policy_harness import judge, judge_stack

REPOSITORY = Path(__file__).resolve().parents[2]
MAIN_PYTHON = REPOSITORY / ".venv" / "bin" / "python"
USER_SERVICE_ACCOUNT = "user-service@bike-share-test.iam.gserviceaccount.com"
WITH_USER_SERVICE = (
    f"userServiceAccount={USER_SERVICE_ACCOUNT}",
    "userServiceOrigins=https://user-service-7g5hx2aq-uc.a.run.app",
)


def dump(*config: str) -> list[dict[str, Any]]:
    assert MAIN_PYTHON.exists(), f"{MAIN_PYTHON} is missing: run `make install` first"
    completed = subprocess.run(
        [str(MAIN_PYTHON), "-m", "tests.infra.dump_stack", *config],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    resources: list[dict[str, Any]] = json.loads(completed.stdout)
    return resources


@pytest.fixture(scope="module", params=["alone", "with-user-service"])
def stack_resources(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return dump(*WITH_USER_SERVICE) if request.param == "with-user-service" else dump()


def test_stack_registers_the_resources_the_pack_guards(
    stack_resources: list[dict[str, Any]],
) -> None:
    types = {resource["type"] for resource in stack_resources}
    guarded = {
        "gcp:cloudfunctionsv2/function:Function",
        "gcp:storage/bucket:Bucket",
        "gcp:pubsub/subscription:Subscription",
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "gcp:projects/iAMMember:IAMMember",  # judged against the project allow-list
        "gcp:projects/iAMAuditConfig:IAMAuditConfig",  # the one admitted audit config
        "gcp:pubsub/topicIAMMember:TopicIAMMember",  # the contract topics
        "gcp:storage/bucketIAMMember:BucketIAMMember",  # the images bucket
    }
    assert guarded <= types, f"the stack no longer registers {guarded - types}"
    assert any(resource["inputs"].get("pushConfig") for resource in stack_resources)
    assert any(resource["type"].lower().endswith("iammember") for resource in stack_resources)


def test_every_resource_of_the_real_stack_passes_every_policy(
    stack_resources: list[dict[str, Any]],
) -> None:
    failures = {
        resource["urn"]: verdict
        for resource in stack_resources
        if (verdict := judge(resource["type"], resource["inputs"]))
    }
    assert failures == {}, json.dumps(failures, indent=2)


def test_the_real_stack_passes_every_stack_policy(stack_resources: list[dict[str, Any]]) -> None:
    resources = [(item["type"], item["urn"], item["inputs"]) for item in stack_resources]
    assert judge_stack(resources) == {}


def test_the_user_service_grants_are_the_ones_the_contract_rules_judge() -> None:
    """With the key, the stack really makes the grants the contract rules are about."""
    granted = {
        (item["type"].rsplit(":", 1)[-1], item["inputs"]["role"])
        for item in dump(*WITH_USER_SERVICE)
        if item["inputs"].get("member") == f"serviceAccount:{USER_SERVICE_ACCOUNT}"
    }
    assert granted == {
        ("TopicIAMMember", "roles/pubsub.publisher"),
        ("BucketIAMMember", "roles/storage.objectUser"),
        ("SubscriptionIAMMember", "roles/pubsub.subscriber"),
    }


PROJECT = "bike-share-test"
IMAGES = f"{PROJECT}-ai-service-images"
USER_SERVICE = f"serviceAccount:{USER_SERVICE_ACCOUNT}"
NAMESAKE_RUNTIME = "serviceAccount:ai-service-sa@attacker-project.iam.gserviceaccount.com"
OTHER_ACCOUNT = "serviceAccount:x@attacker-project.iam.gserviceaccount.com"
UPLOADS = {
    "title": "t",
    "expression": f'resource.name.startsWith("projects/_/buckets/{IMAGES}/objects/uploads/")',
}
TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
SUBSCRIPTION_IAM = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
# Issue 18's review: grants added to the real stack that reach the images or forge verdicts.
ADDED_TO_THE_REAL_STACK = {
    "results published by ai-service-sa of another project": (
        TOPIC_IAM,
        {
            "topic": "ai-service-image-labeled",
            "role": "roles/pubsub.publisher",
            "member": NAMESAKE_RUNTIME,
        },
        "runtime-account-is-this-projects",
    ),
    "images read by ai-service-sa of another project": (
        BUCKET_IAM,
        {"bucket": IMAGES, "role": "roles/storage.legacyObjectReader", "member": NAMESAKE_RUNTIME},
        "runtime-account-is-this-projects",
    ),
    "uploads written by a second account": (
        BUCKET_IAM,
        {
            "bucket": IMAGES,
            "role": "roles/storage.objectUser",
            "member": OTHER_ACCOUNT,
            "condition": UPLOADS,
        },
        "contract-grants-one-user-service-account",
    ),
    "results read by a second account": (
        SUBSCRIPTION_IAM,
        {
            "subscription": "user-service-image-labeled",
            "role": "roles/pubsub.subscriber",
            "member": OTHER_ACCOUNT,
        },
        "contract-grants-one-user-service-account",
    ),
    "new images published by a second account": (
        TOPIC_IAM,
        {
            "topic": "user-service-new-image",
            "role": "roles/pubsub.publisher",
            "member": OTHER_ACCOUNT,
        },
        "contract-grants-one-user-service-account",
    ),
    "images read through a project grant conditioned to the images bucket": (
        "gcp:projects/iAMMember:IAMMember",
        {
            "project": PROJECT,
            "role": "roles/storage.objectViewer",
            "member": "user:evil@example.com",
            "condition": {
                "title": "t",
                "expression": f'resource.name == "projects/_/buckets/{IMAGES}" || '
                f'resource.name.startsWith("projects/_/buckets/{IMAGES}/objects/")',
            },
        },
        "iam-project-roles-allow-list",
    ),
    "images read through a bucket ACL": (
        "gcp:storage/bucketAccessControl:BucketAccessControl",
        {"bucket": IMAGES, "role": "READER", "entity": "user-evil@example.com"},
        "storage-iam-only-no-acls-or-managed-folders",
    ),
    "images read through a default object ACL": (
        "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
        {"bucket": IMAGES, "role": "READER", "entity": "user-evil@example.com"},
        "storage-iam-only-no-acls-or-managed-folders",
    ),
    "images read through a managed folder's IAM": (
        "gcp:storage/managedFolderIamMember:ManagedFolderIamMember",
        {
            "bucket": IMAGES,
            "managedFolder": "uploads/",
            "role": "roles/storage.objectViewer",
            "member": "user:evil@example.com",
        },
        "storage-iam-only-no-acls-or-managed-folders",
    ),
}


@pytest.fixture(scope="module")
def with_user_service() -> list[dict[str, Any]]:
    return dump(*WITH_USER_SERVICE)


@pytest.mark.parametrize("case", sorted(ADDED_TO_THE_REAL_STACK))
def test_a_grant_added_to_the_real_stack_past_the_boundary_is_refused(
    with_user_service: list[dict[str, Any]], case: str
) -> None:
    resource_type, props, policy = ADDED_TO_THE_REAL_STACK[case]
    urn = f"urn:pulumi:dev::ai-service::{resource_type}::added"
    resources = [(item["type"], item["urn"], item["inputs"]) for item in with_user_service]
    found = judge(resource_type, props) | judge_stack([*resources, (resource_type, urn, props)])
    assert policy in found, found
