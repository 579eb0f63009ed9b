"""The User-Service stack under Pulumi mocks: its grants, resource by resource; the contract read from
the AI-Service stack's outputs; a public service and nothing else public."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.infra.cel import evaluate
from tests.infra.harness import PROJECT_ID, PROJECT_NUMBER, ProgramRun, Registration
from tests.user_service.stack_harness import AI_OUTPUTS, UserServiceMocks, run_user_service
from user_service.stack.apis import REQUIRED_APIS
from user_service.stack.settings import KEYS
from user_uploads.config import Settings as ServiceSettings

RUNTIME = f"serviceAccount:user-service@{PROJECT_ID}.iam.gserviceaccount.com"
PUSH = f"user-service-push@{PROJECT_ID}.iam.gserviceaccount.com"
BUILD = f"serviceAccount:user-service-builder@{PROJECT_ID}.iam.gserviceaccount.com"
AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
SERVICE_URL = "https://user-service-7g5hx2aq-uc.a.run.app"
AUDIENCE = f"https://us-central1-{PROJECT_ID}.cloudfunctions.net/user-service/pubsub/results"


@pytest.fixture(scope="module", autouse=True)
def scratch_archives() -> Iterator[None]:
    """The program writes its archive to a scratch directory, never into the checkout."""
    with tempfile.TemporaryDirectory() as directory:
        previous = os.environ.get("USER_SERVICE_ARCHIVE_DIRECTORY")
        os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"] = directory
        yield
        if previous is None:
            del os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"]
        else:
            os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"] = previous


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_user_service()


def iam(run: ProgramRun) -> list[Registration]:
    return [
        item for item in run.custom() if item.type.lower().rsplit(":", 1)[-1].endswith("member")
    ]


def grant(item: Registration) -> tuple[str, str, str, str]:
    """(type, what it is granted on, role, member): the grant as a reviewer reads it."""
    inputs = item.inputs
    target = next(
        str(inputs[key])
        for key in (
            "serviceAccountId",
            "topic",
            "subscription",
            "bucket",
            "repository",
            "name",
            "project",
        )
        if key in inputs
    )
    kind = item.type.rsplit(":", 1)[-1]
    return kind, target, inputs["role"], inputs["member"]


def test_every_grant_of_the_stack_is_one_of_these_and_on_this_resource(run: ProgramRun) -> None:
    expected = {
        # The service: Firestore (project only), signBlob as itself.
        ("IAMMember", PROJECT_ID, "roles/datastore.user", RUNTIME),
        (
            "IAMMember",
            f"projects/{PROJECT_ID}/serviceAccounts/user-service@{PROJECT_ID}.iam.gserviceaccount.com",
            "roles/iam.serviceAccountTokenCreator",
            RUNTIME,
        ),
        # Anyone may open the upload screen: this one Cloud Run service.
        (
            "ServiceIamMember",
            f"projects/{PROJECT_ID}/locations/us-central1/services/user-service",
            "roles/run.invoker",
            "allUsers",
        ),
        # The build: its repository, its source, the gcf-v2-sources bucket (conditioned), logs.
        ("RepositoryIamMember", "user-service-functions", "roles/artifactregistry.writer", BUILD),
        (
            "BucketIAMMember",
            f"{PROJECT_ID}-user-service-source",
            "roles/storage.objectViewer",
            BUILD,
        ),
        ("IAMMember", PROJECT_ID, "roles/storage.objectViewer", BUILD),
        ("IAMMember", PROJECT_ID, "roles/logging.logWriter", BUILD),
        # Pub/Sub's agent: push tokens as the push account, dead-lettering.
        (
            "IAMMember",
            f"projects/{PROJECT_ID}/serviceAccounts/{PUSH}",
            "roles/iam.serviceAccountTokenCreator",
            AGENT,
        ),
        ("TopicIAMMember", "user-service-results-dead-letter", "roles/pubsub.publisher", AGENT),
        ("SubscriptionIAMMember", "user-service-results-push", "roles/pubsub.subscriber", AGENT),
    }
    found = [grant(item) for item in iam(run)]
    assert len(found) == len(set(found)), f"a grant is declared twice: {found}"
    assert set(found) == expected


def test_nothing_is_granted_project_wide_but_what_has_no_narrower_resource(run: ProgramRun) -> None:
    project_wide = {
        (item.inputs["role"], item.inputs["member"]): item.inputs.get("condition")
        for item in run.of_type("gcp:projects/iAMMember:IAMMember")
    }
    assert set(project_wide) == {
        ("roles/datastore.user", RUNTIME),  # Firestore has no per-database IAM resource
        ("roles/logging.logWriter", BUILD),  # logEntries.create exists on projects only
        ("roles/storage.objectViewer", BUILD),  # a bucket that exists only after the first build
    }
    condition = project_wide[("roles/storage.objectViewer", BUILD)]
    assert condition is not None
    sources = f"projects/_/buckets/gcf-v2-sources-{PROJECT_NUMBER}-us-central1"
    assert condition["expression"] == (
        f'resource.name == "{sources}" || resource.name.startsWith("{sources}/objects/")'
    )
    assert project_wide[("roles/datastore.user", RUNTIME)] is None


@pytest.mark.parametrize(
    ("resource_name", "admitted"),
    [
        (f"projects/_/buckets/gcf-v2-sources-{PROJECT_NUMBER}-us-central1", True),
        (f"projects/_/buckets/gcf-v2-sources-{PROJECT_NUMBER}-us-central1/objects/a.zip", True),
        # What a bare name prefix would also admit (the AI stack's issue 17 finding 6).
        (f"projects/_/buckets/gcf-v2-sources-{PROJECT_NUMBER}-us-central10", False),
        (f"projects/_/buckets/gcf-v2-sources-{PROJECT_NUMBER}-us-central1-x/objects/a", False),
        (f"projects/_/buckets/{PROJECT_ID}-user-service-source/objects/a.zip", False),
    ],
)
def test_the_build_reads_the_gcf_sources_bucket_and_no_other(
    run: ProgramRun, resource_name: str, admitted: bool
) -> None:
    [reader] = [
        item
        for item in run.of_type("gcp:projects/iAMMember:IAMMember")
        if item.inputs["role"] == "roles/storage.objectViewer"
    ]
    expression = reader.inputs["condition"]["expression"]
    assert evaluate(expression, {"resource": {"name": resource_name}}) is admitted


def test_the_service_is_the_only_public_thing(run: ProgramRun) -> None:
    public = [
        item
        for item in run.custom()
        if any("allusers" in str(value).lower() for value in item.inputs.values())
    ]
    assert [item.type for item in public] == ["gcp:cloudrunv2/serviceIamMember:ServiceIamMember"]
    function = run.one(FUNCTION)
    assert public[0].inputs["name"] == function.state["serviceConfig"]["service"]
    assert public[0].inputs["role"] == "roles/run.invoker"
    for bucket in run.of_type("gcp:storage/bucket:Bucket"):
        assert bucket.inputs["publicAccessPrevention"] == "enforced", bucket.urn
        assert bucket.inputs["uniformBucketLevelAccess"] is True, bucket.urn


def test_the_function_runs_as_its_own_account_with_the_contracts_names(run: ProgramRun) -> None:
    function = run.one(FUNCTION)
    config = function.inputs["serviceConfig"]
    assert config["ingressSettings"] == "ALLOW_ALL"
    assert config["serviceAccountEmail"] == RUNTIME.removeprefix("serviceAccount:")
    build = function.inputs["buildConfig"]
    assert build["entryPoint"] == "handle_request"
    assert build["serviceAccount"] == (
        f"projects/{PROJECT_ID}/serviceAccounts/{BUILD.removeprefix('serviceAccount:')}"
    )
    assert config["environmentVariables"] == {
        "PROJECT_ID": PROJECT_ID,
        "BUCKET_NAME": AI_OUTPUTS["imagesBucket"],
        "NEW_IMAGE_TOPIC": AI_OUTPUTS["newImageTopic"],
        "NEW_IMAGE_TOPIC_PROJECT": AI_OUTPUTS["project"],
        "SIGNER_EMAIL": RUNTIME.removeprefix("serviceAccount:"),
        "PUSH_AUDIENCE": AUDIENCE,
        "PUSH_ACCOUNT": PUSH,
        "MAX_UPLOAD_BYTES": "10485760",
        "UPLOAD_URL_SECONDS": "600",
        "VERDICT_DEADLINE_SECONDS": "60",
    }


def test_the_deployed_environment_is_one_the_service_starts_with_and_never_local(
    run: ProgramRun,
) -> None:
    environment = run.one(FUNCTION).inputs["serviceConfig"]["environmentVariables"]
    settings = ServiceSettings.from_env(environment)
    assert settings.push is not None
    assert settings.local_push_token is None
    # The topic is the AI-Service's, in its project, which need not be this one (a review found the
    # service publishing to a topic of that name in its own project, where none exists).
    assert AI_OUTPUTS["project"] != PROJECT_ID
    assert settings.topic_path == f"projects/{AI_OUTPUTS['project']}/topics/user-service-new-image"
    forbidden = {
        "LOCAL_PUSH_TOKEN",
        "PUBSUB_EMULATOR_HOST",
        "STORAGE_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
    }
    assert not forbidden & set(environment)


def test_results_come_by_an_authenticated_push_of_its_own_with_a_dead_letter_topic(
    run: ProgramRun,
) -> None:
    push = run.one(SUBSCRIPTION, name="user-service-results-push")
    environment = run.one(FUNCTION).inputs["serviceConfig"]["environmentVariables"]
    assert (
        push.inputs["topic"] == f"projects/{AI_OUTPUTS['project']}/topics/ai-service-image-labeled"
    )
    assert push.inputs["pushConfig"] == {
        "pushEndpoint": f"{SERVICE_URL}/pubsub/results",
        "oidcToken": {"serviceAccountEmail": PUSH, "audience": environment["PUSH_AUDIENCE"]},
    }
    assert environment["PUSH_ACCOUNT"] == PUSH
    assert push.inputs["deadLetterPolicy"] == {
        "deadLetterTopic": f"projects/{PROJECT_ID}/topics/user-service-results-dead-letter",
        "maxDeliveryAttempts": 10,
    }
    assert push.inputs["retryPolicy"] == {"minimumBackoff": "10s", "maximumBackoff": "600s"}
    assert push.inputs["expirationPolicy"] == {"ttl": ""}
    dead_letters = run.one(SUBSCRIPTION, name="user-service-results-dead-letter")
    assert (
        dead_letters.inputs["topic"]
        == f"projects/{PROJECT_ID}/topics/user-service-results-dead-letter"
    )
    assert dead_letters.inputs["expirationPolicy"] == {"ttl": ""}


def test_the_push_subscription_waits_for_its_grants_and_the_function_for_its_own(
    run: ProgramRun,
) -> None:
    push = run.one(SUBSCRIPTION, name="user-service-results-push")
    function = run.one(FUNCTION)
    for item in iam(run):
        if "pubsub-agent-signs" in item.name or "publishes-dead-letters" in item.name:
            assert run.depends_on(push, item), f"{push.urn} does not wait for {item.urn}"
        if item.name.startswith("service-build") or item.name.startswith("service-runtime"):
            assert run.depends_on(function, item), f"{function.urn} does not wait for {item.urn}"
    database = run.one("gcp:firestore/database:Database")
    assert run.depends_on(function, database)
    for service in run.of_type("gcp:projects/service:Service"):
        if service.inputs["service"] in (
            "cloudfunctions.googleapis.com",
            "firestore.googleapis.com",
        ):
            assert run.depends_on(function, service)


def test_firestore_is_the_native_default_database(run: ProgramRun) -> None:
    database = run.one("gcp:firestore/database:Database")
    assert database.inputs["name"] == "(default)"
    assert database.inputs["type"] == "FIRESTORE_NATIVE"
    assert database.inputs["locationId"] == "us-central1"


def test_every_api_it_uses_is_enabled(run: ProgramRun) -> None:
    enabled = {item.inputs["service"] for item in run.of_type("gcp:projects/service:Service")}
    assert enabled == set(REQUIRED_APIS)
    assert {
        "firestore.googleapis.com",
        "run.googleapis.com",
        "cloudfunctions.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "iam.googleapis.com",
        "iamcredentials.googleapis.com",
        "pubsub.googleapis.com",
    } <= enabled


def test_the_contract_is_read_from_the_ai_service_stack_not_copied() -> None:
    other = {
        **AI_OUTPUTS,
        "project": "another-ai-project",
        "imagesBucket": "another-images-bucket",
        "labeledTopic": "ai-service-image-labeled",
    }
    run = run_user_service(mocks=UserServiceMocks(other))
    environment = run.one(FUNCTION).inputs["serviceConfig"]["environmentVariables"]
    assert environment["BUCKET_NAME"] == "another-images-bucket"
    push = run.one(SUBSCRIPTION, name="user-service-results-push")
    assert push.inputs["topic"] == "projects/another-ai-project/topics/ai-service-image-labeled"


def test_the_outputs_name_what_the_ai_service_stack_grants_to(run: ProgramRun) -> None:
    assert run.outputs["runtimeServiceAccountEmail"] == RUNTIME.removeprefix("serviceAccount:")
    assert run.outputs["serviceUrl"] == SERVICE_URL
    assert run.outputs["pushAudience"] == AUDIENCE


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"aiServiceStack": ""}, "aiServiceStack is required"),
        ({"maxUploadBytes": "999999999"}, "maxUploadBytes"),
        ({"maxDeliveryAttempts": "2"}, "maxDeliveryAttempts"),
        ({"minimumBackoffSeconds": "60", "maximumBackoffSeconds": "10"}, "must not exceed"),
    ],
)
def test_bad_configuration_stops_the_program_with_what_to_fix(
    config: dict[str, str], words: str
) -> None:
    with pytest.raises(Exception, match=words):
        run_user_service(config)


PULUMI_YAML = Path(__file__).resolve().parents[2] / "user_service" / "Pulumi.yaml"


def as_pulumi_sends(value: object) -> str | None:
    """A Pulumi.yaml default as the program gets it: text, a YAML boolean as "true" or "false"."""
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_pulumi_yaml_declares_every_key_with_the_type_and_default_the_program_reads() -> None:
    """Pulumi fills an unset key from Pulumi.yaml's default: it must be the program's own."""
    config = yaml.safe_load(PULUMI_YAML.read_text())["config"]
    documented = {
        name: (entry.get("type"), as_pulumi_sends(entry.get("default")))
        for name, entry in config.items()
        if ":" not in name
    }
    declared = {name: (key.type, key.default) for name, key in KEYS.items()}
    differences = [
        f"{name}: Pulumi.yaml says {documented.get(name)}, KEYS says {declared.get(name)}"
        for name in sorted(set(documented) | set(declared))
        if documented.get(name) != declared.get(name)
    ]
    assert differences == [], (
        "user_service/Pulumi.yaml's config block disagrees with user_service/stack/settings.py "
        "(KEYS, the one declaration): make Pulumi.yaml match KEYS\n" + "\n".join(differences)
    )


def test_the_program_also_runs_in_preview() -> None:
    run = run_user_service(preview=True)
    assert run.one(FUNCTION).inputs["name"] == "user-service"


def test_the_archive_holds_the_service_and_nothing_else() -> None:
    run = run_user_service()
    archive = run.one("gcp:storage/bucketObject:BucketObject")
    path = Path(os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"]) / archive.inputs["name"]
    with zipfile.ZipFile(path) as opened:
        names = set(opened.namelist())
    assert {
        "main.py",
        "requirements.txt",
        "user_uploads/app.py",
        "user_uploads/static/index.html",
    } <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
