"""Least privilege: every grant on the narrowest resource, for the right member, and nothing else."""

from __future__ import annotations

import pytest
from pulumi.runtime import mocks as pulumi_mocks

from tests.infra.cel import evaluate
from tests.infra.harness import (
    PROJECT_ID,
    PROJECT_NUMBER,
    SERVICE_IDENTITY,
    CloudMocks,
    ProgramRun,
    Registration,
    run_program,
)

RUNTIME = f"serviceAccount:ai-service-sa@{PROJECT_ID}.iam.gserviceaccount.com"
INVOKER_EMAIL = f"ai-service-invoker@{PROJECT_ID}.iam.gserviceaccount.com"
INVOKER = f"serviceAccount:{INVOKER_EMAIL}"
BUILD = f"serviceAccount:ai-service-builder@{PROJECT_ID}.iam.gserviceaccount.com"
PUBSUB_AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
IMAGES = f"{PROJECT_ID}-ai-service-images"
SOURCE = f"{PROJECT_ID}-ai-service-source"
SERVICE = f"projects/{PROJECT_ID}/locations/us-central1/services/ai-service-image-labeling"
GCF_SOURCES = f"gcf-v2-sources-{PROJECT_NUMBER}-us-central1"

# (IAM resource type, the resource it is granted on, role, member). The whole policy surface.
EXPECTED_GRANTS = {
    ("pubsub/topicIAMMember", "ai-service-image-labeled", "roles/pubsub.publisher", RUNTIME),
    ("storage/bucketIAMMember", IMAGES, "roles/storage.legacyObjectReader", RUNTIME),
    ("cloudrunv2/serviceIamMember", SERVICE, "roles/run.invoker", INVOKER),
    (
        "serviceaccount/iAMMember",
        f"projects/{PROJECT_ID}/serviceAccounts/{INVOKER_EMAIL}",
        "roles/iam.serviceAccountTokenCreator",
        PUBSUB_AGENT,
    ),
    (
        "pubsub/topicIAMMember",
        "ai-service-image-labeling-dead-letter",
        "roles/pubsub.publisher",
        PUBSUB_AGENT,
    ),
    (
        "pubsub/subscriptionIAMMember",
        "ai-service-image-labeling-push",
        "roles/pubsub.subscriber",
        PUBSUB_AGENT,
    ),
    (
        "artifactregistry/repositoryIamMember",
        "ai-service-functions",
        "roles/artifactregistry.writer",
        BUILD,
    ),
    ("storage/bucketIAMMember", SOURCE, "roles/storage.objectViewer", BUILD),
    ("projects/iAMMember", PROJECT_ID, "roles/logging.logWriter", BUILD),
    ("projects/iAMMember", PROJECT_ID, "roles/storage.objectViewer", BUILD),
}
TARGET_FIELD = {
    "pubsub/topicIAMMember": "topic",
    "pubsub/subscriptionIAMMember": "subscription",
    "storage/bucketIAMMember": "bucket",
    "cloudrunv2/serviceIamMember": "name",
    "serviceaccount/iAMMember": "serviceAccountId",
    "artifactregistry/repositoryIamMember": "repository",
    "projects/iAMMember": "project",
}


def iam_resources(run: ProgramRun) -> list[Registration]:
    """Every grant (IAM member) the stack makes; the audit config is tested in test_audit.py."""
    return [
        item
        for item in run.custom()
        if "iam" in item.type.lower().split(":")[1]
        and item.type.startswith("gcp:")
        and "auditconfig" not in item.type.lower()
    ]


def grant(item: Registration) -> tuple[str, str, str, str]:
    kind = item.type.split(":")[1]
    assert kind in TARGET_FIELD, f"{item.urn}: unexpected IAM resource type {item.type}"
    return (kind, item.inputs[TARGET_FIELD[kind]], item.inputs["role"], item.inputs["member"])


def test_the_stack_grants_exactly_the_expected_roles(default_run: ProgramRun) -> None:
    grants = [grant(item) for item in iam_resources(default_run)]
    assert len(grants) == len(set(grants)), f"duplicate grants: {grants}"
    assert set(grants) == EXPECTED_GRANTS


def test_runtime_account_has_no_project_wide_role(default_run: ProgramRun) -> None:
    for item in default_run.of_type("gcp:projects/iAMMember:IAMMember"):
        assert item.inputs["member"] != RUNTIME, (
            f"{item.urn} grants the runtime account a project role"
        )


def test_project_level_grants_are_only_the_build_log_writer_and_a_conditional_reader(
    default_run: ProgramRun,
) -> None:
    project_grants = {
        item.inputs["role"]: item
        for item in default_run.of_type("gcp:projects/iAMMember:IAMMember")
    }
    assert set(project_grants) == {"roles/logging.logWriter", "roles/storage.objectViewer"}
    assert "condition" not in project_grants["roles/logging.logWriter"].inputs


def gcf_sources_reader(run: ProgramRun) -> Registration:
    return run.one("gcp:projects/iAMMember:IAMMember", role="roles/storage.objectViewer")


def admits(reader: Registration, resource_name: str) -> bool:
    return evaluate(reader.inputs["condition"]["expression"], {"resource": {"name": resource_name}})


@pytest.mark.parametrize(
    "resource_name",
    [f"projects/_/buckets/{GCF_SOURCES}", f"projects/_/buckets/{GCF_SOURCES}/objects/src/a.zip"],
)
def test_the_build_reads_the_gcf_sources_bucket_and_its_objects(
    default_run: ProgramRun, resource_name: str
) -> None:
    """Listing is checked on the bucket, reading on each object: both must be admitted."""
    assert admits(gcf_sources_reader(default_run), resource_name)


@pytest.mark.parametrize(
    "resource_name",
    [
        # Issue 17 finding 6: a bare prefix of us-central1 admits these.
        f"projects/_/buckets/{GCF_SOURCES}0",
        f"projects/_/buckets/{GCF_SOURCES}0/objects/src/a.zip",
        f"projects/_/buckets/{GCF_SOURCES}-copy/objects/a.zip",
        f"projects/_/buckets/{IMAGES}/objects/uploads/a.jpg",
        f"projects/_/buckets/{SOURCE}",
        "projects/_/buckets/my-state-bucket/objects/.pulumi/stacks/dev.json",
    ],
)
def test_the_build_reads_no_other_bucket(default_run: ProgramRun, resource_name: str) -> None:
    assert not admits(gcf_sources_reader(default_run), resource_name)


def test_europe_west1_admits_the_europe_west1_bucket_not_europe_west10() -> None:
    reader = gcf_sources_reader(run_program(region="europe-west1"))
    ours = f"gcf-v2-sources-{PROJECT_NUMBER}-europe-west1"
    assert admits(reader, f"projects/_/buckets/{ours}/objects/a.zip")
    assert not admits(reader, f"projects/_/buckets/{ours}0/objects/a.zip")
    assert not admits(reader, f"projects/_/buckets/{ours}0")


def test_runtime_may_read_an_image_but_not_list_the_bucket(default_run: ProgramRun) -> None:
    """Vision fetches one named object; legacyObjectReader is storage.objects.get alone
    (objectViewer would add storage.objects.list: every upload's name)."""
    [grant] = [
        item
        for item in iam_resources(default_run)
        if item.inputs["member"] == RUNTIME and item.type.startswith("gcp:storage/")
    ]
    assert grant.inputs["bucket"] == IMAGES
    assert grant.inputs["role"] == "roles/storage.legacyObjectReader"
    assert "condition" not in grant.inputs


def test_no_primitive_roles_or_public_members(default_run: ProgramRun) -> None:
    for item in iam_resources(default_run):
        role, member = item.inputs["role"], item.inputs["member"]
        assert role not in {"roles/owner", "roles/editor", "roles/viewer"}, item.urn
        assert member not in {"allUsers", "allAuthenticatedUsers"}, item.urn


def test_no_service_account_keys(default_run: ProgramRun) -> None:
    assert not default_run.of_type("gcp:serviceaccount/key:Key")


def test_no_authoritative_iam_resources(default_run: ProgramRun) -> None:
    # *IAMBinding / *IAMPolicy would overwrite grants others made on the same resource.
    for item in iam_resources(default_run):
        assert "binding" not in item.type.lower(), item.urn
        assert "policy" not in item.type.lower(), item.urn


def test_invoker_grant_is_on_the_cloud_run_service_in_the_region(default_run: ProgramRun) -> None:
    item = default_run.one("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert (item.inputs["location"], item.inputs["project"]) == ("us-central1", PROJECT_ID)
    assert not default_run.of_type("gcp:cloudfunctionsv2/functionIamMember:FunctionIamMember")


def test_the_project_number_comes_from_get_project(default_run: ProgramRun) -> None:
    tokens = [call.token for call in default_run.invocations]
    assert tokens == ["gcp:organizations/getProject:getProject"]
    assert default_run.invocations[0].args == {"projectId": PROJECT_ID}


AGENT_FROM_SERVICE_IDENTITY = "serviceAccount:service-987@gcp-sa-pubsub.iam.gserviceaccount.com"


class DistinctAgent(CloudMocks):
    """generateServiceIdentity answering with an agent the project number would not predict."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, state = super().new_resource(args)
        if args.typ == SERVICE_IDENTITY:
            state.update(
                email=AGENT_FROM_SERVICE_IDENTITY.split(":", 1)[1],
                member=AGENT_FROM_SERVICE_IDENTITY,
            )
        return resource_id, state


def test_pubsub_service_agent_is_created_with_service_identity(default_run: ProgramRun) -> None:
    identity = default_run.one(SERVICE_IDENTITY)
    assert identity.inputs == {"project": PROJECT_ID, "service": "pubsub.googleapis.com"}
    agent_grants = [item for item in iam_resources(default_run) if "pubsub-agent" in item.name]
    assert len(agent_grants) == 3
    for item in agent_grants:
        assert default_run.depends_on(item, identity), f"{item.urn} skips the ServiceIdentity"


def test_pubsub_agent_grants_go_to_the_service_identity_member() -> None:
    run = run_program(mocks=DistinctAgent())
    members = {
        item.inputs["role"]: item.inputs["member"]
        for item in iam_resources(run)
        if "pubsub-agent" in item.name
    }
    assert members == {
        "roles/iam.serviceAccountTokenCreator": AGENT_FROM_SERVICE_IDENTITY,
        "roles/pubsub.publisher": AGENT_FROM_SERVICE_IDENTITY,
        "roles/pubsub.subscriber": AGENT_FROM_SERVICE_IDENTITY,
    }


def test_build_account_gets_the_documented_pieces_not_a_project_wide_builder_role(
    default_run: ProgramRun,
) -> None:
    """Google's Cloud Run page names roles/run.builder on the project; its Cloud Run functions
    page and the build's own error name the pieces (log writer, Artifact Registry writer, object
    viewer on the source), which are granted on the narrowest resource each allows. TPG #20571
    fails with project-wide objectAdmin too, so breadth would not fix propagation."""
    build_roles = {
        item.inputs["role"] for item in iam_resources(default_run) if item.inputs["member"] == BUILD
    }
    assert build_roles == {
        "roles/artifactregistry.writer",
        "roles/storage.objectViewer",
        "roles/logging.logWriter",
    }
    for item in iam_resources(default_run):
        assert item.inputs["role"] not in {
            "roles/run.builder",
            "roles/cloudbuild.builds.builder",
            "roles/storage.objectAdmin",
            "roles/storage.admin",
        }, item.urn
