"""Config validation: defaults, and an error that names the key and what was expected."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pulumi
import pytest
import yaml

from infra.settings import CONFIG_KEYS, DEFAULTS, Settings, SettingsError, load_settings
from tests.infra.harness import REPOSITORY, run_program

PROJECT = "bike-share-test"


def load(**values: str) -> Settings:
    return load_settings(PROJECT, None, values)


def test_defaults() -> None:
    settings = load()
    assert settings.region == "us-central1"
    assert settings.images_bucket_name == f"{PROJECT}-ai-service-images"
    assert settings.force_destroy is False
    assert settings.target_labels == ("Bicycle",)
    assert settings.min_score == 0.5
    assert settings.max_labels == 10
    assert settings.vision_features == ("LABEL_DETECTION",)
    assert (settings.vision_timeout_seconds, settings.publish_timeout_seconds) == (20, 10)
    assert settings.function_timeout_seconds == 60
    assert settings.function_concurrency == 80
    assert (settings.function_cpu, settings.function_memory) == ("1", "512Mi")
    assert (settings.min_instances, settings.max_instances) == (0, 10)
    assert settings.max_delivery_attempts == 30
    assert (settings.minimum_backoff_seconds, settings.maximum_backoff_seconds) == (10, 600)
    assert settings.ack_deadline_seconds == 60
    assert settings.api_propagation_seconds == 60
    # IAM: "typically 2 minutes"; 60 s failed about half of TPG #20571's builder-sample runs.
    assert settings.iam_propagation_seconds == 120
    # Log-based metrics: "could take up to 10 minutes" to be known (TPG #11102).
    assert settings.metric_propagation_seconds == 180


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        load().max_labels = 3  # type: ignore[misc]


@pytest.mark.parametrize("project", [None, ""])
def test_missing_project_names_gcp_project(project: str | None) -> None:
    with pytest.raises(SettingsError, match=r"gcp:project is required"):
        load_settings(project, None, {})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"minScore": "1.5"}, r"ai-service:minScore must be a number from 0 to 1, got 1\.5"),
        ({"minScore": "-0.1"}, r"ai-service:minScore must be a number from 0 to 1"),
        ({"minScore": "high"}, r"ai-service:minScore must be a number from 0 to 1, got 'high'"),
        ({"maxLabels": "0"}, r"ai-service:maxLabels must be an integer from 1 to 100, got 0"),
        ({"functionConcurrency": "0"}, r"ai-service:functionConcurrency must be an integer"),
        ({"functionConcurrency": "many"}, r"ai-service:functionConcurrency must be an integer"),
        (
            {"functionConcurrency": "8", "functionCpu": "0.5"},
            r"ai-service:functionCpu must be at least 1 when ai-service:functionConcurrency > 1",
        ),
        ({"functionCpu": "0"}, r"ai-service:functionCpu must be a positive number"),
        ({"functionMemory": "lots"}, r"ai-service:functionMemory must be a size such as 512Mi"),
        (
            {"functionTimeoutSeconds": "541"},
            r"ai-service:functionTimeoutSeconds must be an integer from 1 to 540, got 541",
        ),
        (
            {"functionTimeoutSeconds": "30"},
            r"visionTimeoutSeconds \+ ai-service:publishTimeoutSeconds \(20 \+ 10\) must be "
            r"less than ai-service:functionTimeoutSeconds \(30\)",
        ),
        (
            {"visionTimeoutSeconds": "55"},
            r"must be less than ai-service:functionTimeoutSeconds \(60\)",
        ),
        (
            {"maxDeliveryAttempts": "4"},
            r"ai-service:maxDeliveryAttempts must be an integer from 5 to 100",
        ),
        (
            {"maxDeliveryAttempts": "101"},
            r"ai-service:maxDeliveryAttempts must be an integer from 5",
        ),
        (
            {"minInstances": "5", "maxInstances": "2"},
            r"ai-service:minInstances \(5\) must not exceed ai-service:maxInstances \(2\)",
        ),
        ({"maxInstances": "0"}, r"ai-service:maxInstances must be an integer from 1 to 1000"),
        (
            {"minimumBackoffSeconds": "700"},
            r"ai-service:minimumBackoffSeconds must be an integer from 0 to 600",
        ),
        (
            {"minimumBackoffSeconds": "60", "maximumBackoffSeconds": "30"},
            r"minimumBackoffSeconds \(60\) must not exceed ai-service:maximumBackoffSeconds \(30\)",
        ),
        (
            {"ackDeadlineSeconds": "30"},
            r"ai-service:ackDeadlineSeconds \(30\) must be at least "
            r"ai-service:functionTimeoutSeconds \(60\)",
        ),
        (
            {"ackDeadlineSeconds": "601"},
            r"ai-service:ackDeadlineSeconds must be an integer from 10",
        ),
        (
            {"visionFeatures": "LABEL_DETECTION,FACE_DETECTION"},
            r"ai-service:visionFeatures must list only LABEL_DETECTION, OBJECT_LOCALIZATION, "
            r"SAFE_SEARCH_DETECTION; unknown: FACE_DETECTION",
        ),
        ({"targetLabels": " , "}, r"ai-service:targetLabels must be a non-empty"),
        ({"forceDestroy": "maybe"}, r"ai-service:forceDestroy must be true or false"),
        ({"imagesBucketName": "Bad_Bucket"}, r"ai-service:imagesBucketName must be a valid bucket"),
        ({"imagesBucketName": "google-images"}, r"ai-service:imagesBucketName must be a valid"),
        (
            {"imagesBucketName": "same-bucket", "sourceBucketName": "same-bucket"},
            r"must differ",
        ),
        ({"maxLabel": "3"}, r"unknown config keys \['maxLabel'\]"),
        (
            {"metricPropagationSeconds": "901"},
            r"ai-service:metricPropagationSeconds must be an integer from 0",
        ),
    ],
)
def test_invalid_values_are_rejected_with_what_was_expected(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load(**values)


@pytest.mark.parametrize(
    ("project", "region", "message"),
    [
        ("Bad_Project", None, r"gcp:project must be a project id \(lowercase"),
        ("my project", None, r"gcp:project must be a project id .*got 'my project'"),
        ("projects/my-project", None, r"gcp:project must be a project id"),
        (" my-project", None, r"gcp:project must be a project id"),
        (PROJECT, "moon", r"gcp:region must be a region such as us-central1, got 'moon'"),
    ],
)
def test_invalid_project_or_region(project: str, region: str | None, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(project, region, {})


@pytest.mark.parametrize("project", ["p", "proj", "test", "my-project-123", "a-1"])
def test_short_project_ids_that_mocks_use_are_accepted(project: str) -> None:
    settings = load_settings(project, None, {})
    assert settings.project == project
    assert settings.images_bucket_name == f"{project}-ai-service-images"


@pytest.fixture
def sdk_config() -> Iterator[Callable[[str], pulumi.Config]]:
    """pulumi.Config holding one ai-service:forceDestroy value; the config is cleared after."""

    def holding(raw: str) -> pulumi.Config:
        pulumi.runtime.set_all_config({"ai-service:forceDestroy": raw})
        return pulumi.Config("ai-service")

    yield holding
    pulumi.runtime.set_all_config({})


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("True", True), ("false", False), ("False", False)]
)
def test_booleans_accept_what_pulumi_typed_boolean_config_accepts(
    raw: str, expected: bool, sdk_config: Callable[[str], pulumi.Config]
) -> None:
    assert load(forceDestroy=raw).force_destroy is expected
    # The same spellings pulumi.Config.get_bool takes, judged by the SDK itself.
    assert sdk_config(raw).get_bool("forceDestroy") is expected


@pytest.mark.parametrize("raw", ["yes", "no", "1", "0", "TRUE", "on", " true", "false "])
def test_booleans_refuse_what_pulumi_typed_boolean_config_refuses(
    raw: str, sdk_config: Callable[[str], pulumi.Config]
) -> None:
    with pytest.raises(SettingsError, match=r"ai-service:forceDestroy must be true or false"):
        load(forceDestroy=raw)
    with pytest.raises(pulumi.ConfigTypeError):
        sdk_config(raw).get_bool("forceDestroy")


def test_concurrency_one_allows_fractional_cpu() -> None:
    settings = load(functionConcurrency="1", functionCpu="0.5")
    assert (settings.function_concurrency, settings.function_cpu) == (1, "0.5")


def test_ack_deadline_zero_means_the_function_timeout() -> None:
    assert load(ackDeadlineSeconds="0", functionTimeoutSeconds="90").ack_deadline_seconds == 90


def test_feature_names_are_normalised_and_deduplicated() -> None:
    features = load(visionFeatures="label_detection, LABEL_DETECTION,object_localization")
    assert features.vision_features == ("LABEL_DETECTION", "OBJECT_LOCALIZATION")


def test_stack_label_is_a_valid_label_value() -> None:
    settings = load_settings(PROJECT, None, {}, stack="Prod.EU")
    assert settings.labels["environment"] == "prod-eu"


def test_the_program_fails_with_the_validation_message() -> None:
    with pytest.raises(pulumi.RunError, match=r"ai-service:minScore must be a number from 0 to 1"):
        run_program({"minScore": "2"})


def test_the_program_requires_gcp_project() -> None:
    with pytest.raises(pulumi.RunError, match=r"gcp:project is required"):
        run_program(project=None)


def project_config() -> dict[str, dict[str, object]]:
    document = yaml.safe_load((REPOSITORY / "Pulumi.yaml").read_text())
    config: dict[str, dict[str, object]] = document["config"]
    return config


def test_pulumi_yaml_documents_every_key_with_its_default() -> None:
    declared = {key: value for key, value in project_config().items() if ":" not in key}
    assert sorted(declared) == sorted(CONFIG_KEYS)
    for key, declaration in declared.items():
        assert declaration.get("description"), f"Pulumi.yaml: {key} has no description"
        assert "default" in declaration, f"Pulumi.yaml: {key} has no default"
        default = declaration["default"]
        expected = DEFAULTS[key]
        if expected is None:
            assert default in ("", 0), f"Pulumi.yaml: {key} default should mean 'derived'"
        else:
            shown = str(default).lower() if isinstance(default, bool) else str(default)
            assert shown == expected, f"Pulumi.yaml: {key} default {default!r} != {expected!r}"


def test_pulumi_yaml_project_settings() -> None:
    document = yaml.safe_load((REPOSITORY / "Pulumi.yaml").read_text())
    assert document["name"] == "ai-service"
    assert document["main"] == "infra/"
    assert document["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
    assert project_config()["gcp:region"] == {"value": "us-central1"}


def test_dev_stack_config_is_valid_without_a_project_id() -> None:
    document = yaml.safe_load((REPOSITORY / "Pulumi.dev.yaml").read_text())
    config: dict[str, object] = document["config"]
    assert "gcp:project" not in config
    # As __main__ turns config into text: str(), so a YAML true arrives as "True".
    values = {
        key.split(":", 1)[1]: str(value)
        for key, value in config.items()
        if key.startswith("ai-service:")
    }
    settings = load_settings(PROJECT, str(config.get("gcp:region")), values, stack="dev")
    assert settings.force_destroy is True


def test_default_function_source_is_the_repository_function_directory() -> None:
    from infra import settings as infra_settings

    assert infra_settings.REPOSITORY_ROOT / "function" == REPOSITORY / "function"
    assert isinstance(infra_settings.REPOSITORY_ROOT, Path)
