"""The real User-Service stack, as the mocks register it, passes every policy of its pack; and it has
the one public service the pack allows."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pack_harness import judge, judge_stack

REPOSITORY = Path(__file__).resolve().parents[3]
MAIN_PYTHON = REPOSITORY / ".venv" / "bin" / "python"


@pytest.fixture(scope="module")
def stack_resources() -> list[dict[str, Any]]:
    assert MAIN_PYTHON.exists(), f"{MAIN_PYTHON} is missing: run `make install` first"
    completed = subprocess.run(
        [str(MAIN_PYTHON), "-m", "tests.user_service.dump_stack"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    resources: list[dict[str, Any]] = json.loads(completed.stdout)
    return resources


def test_the_stack_registers_what_the_pack_guards(stack_resources: list[dict[str, Any]]) -> None:
    public = [r for r in stack_resources if r["inputs"].get("member") == "allUsers"]
    assert [r["type"] for r in public] == ["gcp:cloudrunv2/serviceIamMember:ServiceIamMember"]
    assert any(r["inputs"].get("pushConfig") for r in stack_resources)
    assert any(r["type"] == "gcp:cloudfunctionsv2/function:Function" for r in stack_resources)


def test_every_resource_of_the_real_stack_passes_every_policy(
    stack_resources: list[dict[str, Any]],
) -> None:
    failures = {
        r["urn"]: verdict for r in stack_resources if (verdict := judge(r["type"], r["inputs"]))
    }
    assert failures == {}, json.dumps(failures, indent=2)


def test_the_real_stack_passes_every_stack_policy(stack_resources: list[dict[str, Any]]) -> None:
    resources = [(item["type"], item["urn"], item["inputs"]) for item in stack_resources]
    assert judge_stack(resources) == {}


RUNTIME = "serviceAccount:user-service@bike-share-test.iam.gserviceaccount.com"
# Issue 18's review: resources added to the real stack that cross the trust boundary.
ADDED_TO_THE_REAL_STACK = {
    "the User-Service publishes verdicts": (
        "gcp:pubsub/topicIAMMember:TopicIAMMember",
        {"topic": "ai-service-image-labeled", "role": "roles/pubsub.publisher", "member": RUNTIME},
        "no-grants-on-the-ai-service-resources",
    ),
    "the User-Service grants itself the images": (
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        {
            "bucket": "bike-share-ai-ai-service-images",
            "role": "roles/storage.objectAdmin",
            "member": RUNTIME,
        },
        "no-grants-on-the-ai-service-resources-in-use",
    ),
    "allUsers invokes a user-service in another project": (
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        {
            "name": "projects/other/locations/europe-west1/services/user-service",
            "role": "roles/run.invoker",
            "member": "allUsers",
        },
        "public-invoker-is-this-stacks-service",
    ),
    "the local push token in a Cloud Run service": (
        "gcp:cloudrunv2/service:Service",
        {
            "name": "user-service",
            "template": {
                "containers": [
                    {"image": "x", "envs": [{"name": "LOCAL_PUSH_TOKEN", "value": "x" * 20}]}
                ]
            },
        },
        "no-local-only-settings-deployed",
    ),
}


@pytest.mark.parametrize("case", sorted(ADDED_TO_THE_REAL_STACK))
def test_a_resource_added_to_the_real_stack_past_the_boundary_is_refused(
    stack_resources: list[dict[str, Any]], case: str
) -> None:
    resource_type, props, policy = ADDED_TO_THE_REAL_STACK[case]
    resources = [(item["type"], item["urn"], item["inputs"]) for item in stack_resources]
    added = (resource_type, f"urn:pulumi:dev::user-service::{resource_type}::added", props)
    found = judge(resource_type, props) | judge_stack([*resources, added])
    assert policy in found, found
