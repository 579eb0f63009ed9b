"""The function: internal-only ingress, identities, runtime, capacity and environment."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from infra.settings import load_settings
from labeling import config as function
from tests.infra.harness import PROJECT_ID, CloudMocks, ProgramRun, run_program

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
RUNTIME_EMAIL = f"ai-service-sa@{PROJECT_ID}.iam.gserviceaccount.com"
UPLOADED_GENERATION = 1764633600123456
BUILD_ID = (
    f"projects/{PROJECT_ID}/serviceAccounts/ai-service-builder@{PROJECT_ID}.iam.gserviceaccount.com"
)


def service_config(run: ProgramRun) -> dict[str, Any]:
    config: dict[str, Any] = run.one(FUNCTION).inputs["serviceConfig"]
    return config


def build_config(run: ProgramRun) -> dict[str, Any]:
    config: dict[str, Any] = run.one(FUNCTION).inputs["buildConfig"]
    return config


def test_ingress_is_internal_only(default_run: ProgramRun) -> None:
    assert service_config(default_run)["ingressSettings"] == "ALLOW_INTERNAL_ONLY"


def test_function_has_no_eventarc_trigger(default_run: ProgramRun) -> None:
    function = default_run.one(FUNCTION)
    assert "eventTrigger" not in function.inputs, function.urn


def test_function_runs_as_the_runtime_account(default_run: ProgramRun) -> None:
    assert service_config(default_run)["serviceAccountEmail"] == RUNTIME_EMAIL


def test_build_uses_the_build_account_id_and_our_repository(default_run: ProgramRun) -> None:
    build = build_config(default_run)
    assert build["serviceAccount"] == BUILD_ID
    assert build["dockerRepository"] == (
        f"projects/{PROJECT_ID}/locations/us-central1/repositories/ai-service-functions"
    )


def test_runtime_and_entry_point(default_run: ProgramRun) -> None:
    build = build_config(default_run)
    assert build["runtime"] == "python312"
    assert build["entryPoint"] == "label_image"


def test_source_is_the_hashed_object_in_the_source_bucket(default_run: ProgramRun) -> None:
    source = build_config(default_run)["source"]["storageSource"]
    source_object = default_run.one("gcp:storage/bucketObject:BucketObject")
    assert source == {
        "bucket": f"{PROJECT_ID}-ai-service-source",
        "object": source_object.inputs["name"],
        "generation": source_object.state["generation"],
    }


class LaterGeneration(CloudMocks):
    """Cloud Storage gives every upload a new generation number (microseconds since epoch)."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, state = super().new_resource(args)
        if args.typ == "gcp:storage/bucketObject:BucketObject":
            state["generation"] = UPLOADED_GENERATION
        return resource_id, state


def test_build_pins_the_uploaded_generation_of_the_source_object() -> None:
    run = run_program(mocks=LaterGeneration())
    storage_source = build_config(run)["source"]["storageSource"]
    source_object = run.one("gcp:storage/bucketObject:BucketObject")
    assert storage_source["object"] == source_object.inputs["name"]
    assert int(storage_source["generation"]) == UPLOADED_GENERATION
    assert run.depends_on(run.one(FUNCTION), source_object)


def test_environment_carries_every_setting_the_function_reads(default_run: ProgramRun) -> None:
    """Every variable the function requires or has a default for is set by the stack (so the
    stack, not a default inside the function, decides), plus the server's THREADS."""
    environment = service_config(default_run)["environmentVariables"]
    assert environment == load_settings(PROJECT_ID, None, {}).function_environment()
    assert set(environment) == {
        variable.name
        for variable in function.VARIABLES
        if variable.required or variable.default is not None
    } | {"THREADS"}
    assert (environment["TOPIC_ID"], environment["BUCKET_NAME"]) == (
        "ai-service-image-labeled",
        f"{PROJECT_ID}-ai-service-images",
    )


def test_configured_values_reach_the_function() -> None:
    run = run_program(
        {
            "targetLabels": "Bicycle, Tandem",
            "minScore": "0.8",
            "reviewMinScore": "0.55",
            "maxLabels": "5",
            "visionFeatures": "label_detection,SAFE_SEARCH_DETECTION",
            "functionConcurrency": "16",
            "functionCpu": "2",
            "functionMemory": "1Gi",
            "functionTimeoutSeconds": "120",
            "visionTimeoutSeconds": "60",
            "minInstances": "1",
            "maxInstances": "3",
            "imagesBucketName": "custom-images-bucket",
        },
        region="europe-west1",
    )
    config = service_config(run)
    environment = config["environmentVariables"]
    assert environment["TARGET_LABELS"] == "Bicycle,Tandem"
    assert (environment["MIN_SCORE"], environment["REVIEW_MIN_SCORE"]) == ("0.8", "0.55")
    assert environment["MAX_LABELS"] == "5"
    assert environment["VISION_FEATURES"] == "LABEL_DETECTION,SAFE_SEARCH_DETECTION"
    assert environment["VISION_TIMEOUT_SECONDS"] == "60"
    assert environment["BUCKET_NAME"] == "custom-images-bucket"
    # The server's thread pool must match what Cloud Run sends one instance.
    assert environment["THREADS"] == "16" == str(int(config["maxInstanceRequestConcurrency"]))
    assert (config["availableCpu"], config["availableMemory"]) == ("2", "1Gi")
    assert (config["minInstanceCount"], config["maxInstanceCount"]) == (1, 3)
    assert config["timeoutSeconds"] == 120
    assert run.one(FUNCTION).inputs["location"] == "europe-west1"


def test_function_carries_labels(default_run: ProgramRun) -> None:
    labels = default_run.one(FUNCTION).inputs["labels"]
    assert labels["app"] == "ai-service"
    assert labels["managed-by"] == "pulumi"
