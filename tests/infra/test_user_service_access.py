"""The trust boundary between the two teams as code (issue 18): what the AI-Service stack lets the
User-Service do, resource by resource, with and without `ai-service:userServiceAccount`; both stacks
run under mocks, the AI stack configured from the User-Service stack's own outputs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from infra.settings import USER_UPLOADS_PREFIX, SettingsError, load_settings
from infra.user_service import UPLOAD_CORS_MAX_AGE_SECONDS, UPLOAD_HEADERS, UPLOAD_METHODS
from tests.infra import provider_schema
from tests.infra import test_iam as ai_grants
from tests.infra.cel import evaluate
from tests.infra.harness import PROJECT_ID, ProgramRun, Registration, run_program
from tests.user_service.stack_harness import run_user_service
from user_uploads.app import OBJECT_PREFIX
from user_uploads.storage import bucket_cors_rule

USER_SERVICE_EMAIL = f"user-service@{PROJECT_ID}.iam.gserviceaccount.com"
USER_SERVICE = f"serviceAccount:{USER_SERVICE_EMAIL}"
SCREEN = "https://user-service-7g5hx2aq-uc.a.run.app"
IMAGES = ai_grants.IMAGES
NEW_IMAGE_TOPIC = "user-service-new-image"
LABELED_TOPIC = "ai-service-image-labeled"
RESULTS_SUBSCRIPTION = "user-service-image-labeled"
BUCKET = "gcp:storage/bucket:Bucket"
# The contract's resources, as (IAM resource type, what it is granted on).
CONTRACT_RESOURCES = {
    ("pubsub/topicIAMMember", NEW_IMAGE_TOPIC),
    ("pubsub/topicIAMMember", LABELED_TOPIC),
    ("storage/bucketIAMMember", IMAGES),
    ("pubsub/subscriptionIAMMember", RESULTS_SUBSCRIPTION),
}
WITH_USER_SERVICE = {"userServiceAccount": USER_SERVICE_EMAIL, "userServiceOrigins": SCREEN}


@pytest.fixture(scope="module")
def user_service_outputs() -> Iterator[dict[str, str]]:
    """The User-Service stack's outputs under mocks: what an operator copies into the AI stack."""
    with tempfile.TemporaryDirectory() as directory:
        previous = os.environ.get("USER_SERVICE_ARCHIVE_DIRECTORY")
        os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"] = directory
        try:
            yield {key: str(value) for key, value in run_user_service().outputs.items()}
        finally:
            if previous is None:
                del os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"]
            else:
                os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"] = previous


@pytest.fixture(scope="module")
def with_user_service(user_service_outputs: dict[str, str]) -> ProgramRun:
    """The AI stack given the User-Service's account and URL, from that stack's outputs."""
    return run_program(
        {
            "userServiceAccount": user_service_outputs["runtimeServiceAccountEmail"],
            "userServiceOrigins": user_service_outputs["serviceUrl"],
        }
    )


def contract_grants(run: ProgramRun) -> dict[tuple[str, str, str, str], Registration]:
    """Every grant on a contract resource, as (type, resource, role, member)."""
    found = {}
    for item in ai_grants.iam_resources(run):
        granted = ai_grants.grant(item)
        if granted[:2] in CONTRACT_RESOURCES:
            found[granted] = item
    return found


def test_the_user_service_stack_exports_what_the_ai_stack_is_given(
    user_service_outputs: dict[str, str],
) -> None:
    assert user_service_outputs["runtimeServiceAccountEmail"] == USER_SERVICE_EMAIL
    assert user_service_outputs["serviceUrl"] == SCREEN


def test_without_the_key_only_the_stacks_own_account_holds_a_grant_on_the_contract(
    default_run: ProgramRun,
) -> None:
    assert set(contract_grants(default_run)) == {
        ("pubsub/topicIAMMember", LABELED_TOPIC, "roles/pubsub.publisher", ai_grants.RUNTIME),
        ("storage/bucketIAMMember", IMAGES, "roles/storage.legacyObjectReader", ai_grants.RUNTIME),
    }
    [images] = [
        item
        for item in default_run.of_type(BUCKET)
        if item.inputs["labels"]["component"] == "images"
    ]
    assert "cors" not in images.inputs, "no browser origin may upload without the key"


def test_with_the_key_the_user_service_gets_exactly_the_contract_on_those_resources(
    with_user_service: ProgramRun,
) -> None:
    assert set(contract_grants(with_user_service)) == {
        ("pubsub/topicIAMMember", LABELED_TOPIC, "roles/pubsub.publisher", ai_grants.RUNTIME),
        ("storage/bucketIAMMember", IMAGES, "roles/storage.legacyObjectReader", ai_grants.RUNTIME),
        # Step 2c: it announces uploads; never publishes a verdict.
        ("pubsub/topicIAMMember", NEW_IMAGE_TOPIC, "roles/pubsub.publisher", USER_SERVICE),
        # Steps 2b/2c and a blocked image: create, read, delete (conditioned, below).
        ("storage/bucketIAMMember", IMAGES, "roles/storage.objectUser", USER_SERVICE),
        # Step 7: the results subscription kept for it.
        (
            "pubsub/subscriptionIAMMember",
            RESULTS_SUBSCRIPTION,
            "roles/pubsub.subscriber",
            USER_SERVICE,
        ),
    }


def test_the_key_adds_nothing_but_those_three_grants(
    default_run: ProgramRun, with_user_service: ProgramRun
) -> None:
    before = {ai_grants.grant(item) for item in ai_grants.iam_resources(default_run)}
    after = {ai_grants.grant(item) for item in ai_grants.iam_resources(with_user_service)}
    added = after - before
    assert before <= after
    assert {member for *_, member in added} == {USER_SERVICE}
    assert len(added) == 3
    assert not [item for item in added if item[0].startswith("projects/")], "nothing project-wide"
    assert not with_user_service.of_type("gcp:projects/iAMCustomRole:IAMCustomRole")


def uploads_grant(run: ProgramRun) -> Registration:
    return contract_grants(run)[
        ("storage/bucketIAMMember", IMAGES, "roles/storage.objectUser", USER_SERVICE)
    ]


@pytest.mark.parametrize(
    "resource_name",
    [
        f"projects/_/buckets/{IMAGES}/objects/uploads/0f3c9e.png",
        f"projects/_/buckets/{IMAGES}/objects/uploads/a/b.jpg",
    ],
)
def test_the_user_service_reaches_its_uploads(
    with_user_service: ProgramRun, resource_name: str
) -> None:
    expression = uploads_grant(with_user_service).inputs["condition"]["expression"]
    assert evaluate(expression, {"resource": {"name": resource_name}})


@pytest.mark.parametrize(
    "resource_name",
    [
        # The bucket itself: storage.objects.list is checked here, so no listing of uploads.
        f"projects/_/buckets/{IMAGES}",
        # What make smoke or someone else put outside the prefix.
        f"projects/_/buckets/{IMAGES}/objects/image-01.jpg",
        f"projects/_/buckets/{IMAGES}/objects/uploads",
        f"projects/_/buckets/{IMAGES}/objects/uploadsX/a.png",
        # Another bucket whose name starts with the images bucket's.
        f"projects/_/buckets/{IMAGES}-copy/objects/uploads/a.png",
        f"projects/_/buckets/{ai_grants.SOURCE}/objects/uploads/a.zip",
    ],
)
def test_the_user_service_reaches_nothing_else_in_storage(
    with_user_service: ProgramRun, resource_name: str
) -> None:
    expression = uploads_grant(with_user_service).inputs["condition"]["expression"]
    assert not evaluate(expression, {"resource": {"name": resource_name}})


def test_the_uploads_prefix_is_the_one_the_user_service_names_its_objects_under() -> None:
    assert USER_UPLOADS_PREFIX == OBJECT_PREFIX


def test_the_images_bucket_lets_the_upload_screen_put_photos(
    with_user_service: ProgramRun,
) -> None:
    [images] = [item for item in with_user_service.of_type(BUCKET) if item.inputs["name"] == IMAGES]
    rule = bucket_cors_rule([SCREEN])  # the User-Service's own statement of what it needs
    assert images.inputs["cors"] == [
        {
            "origins": rule["origin"],
            "methods": rule["method"],
            "responseHeaders": rule["responseHeader"],
            "maxAgeSeconds": rule["maxAgeSeconds"],
        }
    ]
    assert (list(UPLOAD_METHODS), list(UPLOAD_HEADERS), UPLOAD_CORS_MAX_AGE_SECONDS) == (
        rule["method"],
        rule["responseHeader"],
        rule["maxAgeSeconds"],
    )
    [source] = [
        item
        for item in with_user_service.of_type(BUCKET)
        if item.inputs["name"] == ai_grants.SOURCE
    ]
    assert "cors" not in source.inputs


def test_the_new_resources_are_what_the_provider_accepts(with_user_service: ProgramRun) -> None:
    for item in with_user_service.custom():
        if item.type == BUCKET or USER_SERVICE in str(item.inputs.get("member")):
            assert provider_schema.problems(item.type, item.inputs) == [], item.urn


def test_the_grants_wait_for_the_resources_they_name(with_user_service: ProgramRun) -> None:
    for granted, item in contract_grants(with_user_service).items():
        if granted[-1] != USER_SERVICE:
            continue
        target = granted[1]
        [resource] = [
            candidate
            for candidate in with_user_service.custom()
            if candidate.inputs.get("name") == target and "iam" not in candidate.type.lower()
        ]
        assert with_user_service.depends_on(item, resource), f"{item.urn} skips {resource.urn}"


def test_a_preview_with_the_key_runs() -> None:
    run = run_program(WITH_USER_SERVICE, preview=True)
    assert any("user-service" in item.name for item in run.custom())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"userServiceAccount": "someone@example.com"},
            "ai-service:userServiceAccount must be a user-managed service account's e-mail",
        ),
        (
            {"userServiceAccount": "123-compute@developer.gserviceaccount.com"},
            "ai-service:userServiceAccount must be a user-managed service account's e-mail",
        ),
        (
            {"userServiceAccount": f"ai-service-sa@{PROJECT_ID}.iam.gserviceaccount.com"},
            "one of this stack's own accounts",
        ),
        (
            {"userServiceAccount": f"ai-service-invoker@{PROJECT_ID}.iam.gserviceaccount.com"},
            "one of this stack's own accounts",
        ),
        ({"userServiceOrigins": SCREEN}, "ai-service:userServiceOrigins is set but"),
        (
            {**WITH_USER_SERVICE, "userServiceOrigins": f"{SCREEN}/"},
            "ai-service:userServiceOrigins must be comma-separated https origins",
        ),
        (
            {**WITH_USER_SERVICE, "userServiceOrigins": "http://localhost:8080"},
            "ai-service:userServiceOrigins must be comma-separated https origins",
        ),
        (
            {**WITH_USER_SERVICE, "userServiceOrigins": "*"},
            "ai-service:userServiceOrigins must be comma-separated https origins",
        ),
    ],
)
def test_a_wrong_user_service_identity_or_origin_is_refused(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("*", r"\*")):
        load_settings(PROJECT_ID, None, values)


def test_an_account_without_origins_is_a_user_service_without_a_browser() -> None:
    """A mobile app's backend uploads without CORS: the grants alone are a valid contract."""
    settings = load_settings(PROJECT_ID, None, {"userServiceAccount": USER_SERVICE_EMAIL})
    assert settings.user_service.account == USER_SERVICE_EMAIL
    assert settings.user_service.origins == ()
    run = run_program({"userServiceAccount": USER_SERVICE_EMAIL})
    assert len(contract_grants(run)) == 5
    assert not any("cors" in item.inputs for item in run.of_type(BUCKET))
