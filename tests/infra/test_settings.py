"""Stack config: unset keys take their declared default, an invalid value stops the run with an error
naming the key and what was expected, and the environment the stack deploys is one the function accepts
with the very same values."""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import given, reject
from hypothesis import strategies as st

from infra.settings import (
    BUCKET,
    KEYS,
    SECTIONS,
    Capacity,
    Key,
    Labeling,
    Settings,
    SettingsError,
    keys_of,
    load_settings,
)
from labeling import config as function
from labeling.config import Feature, Features, Integer, Names, Number
from tests.infra.harness import REPOSITORY, run_program

PROJECT = "bike-share-test"


def load(**values: str) -> Settings:
    return load_settings(PROJECT, None, values)


def test_unset_keys_take_their_declared_default() -> None:
    settings = load()
    for section in settings.sections:
        for field, key in keys_of(type(section)).items():
            if not key.derived:
                assert getattr(section, field) == key.parse(key.default), key.name


def test_derived_defaults_follow_the_project_and_the_function_timeout() -> None:
    settings = load(functionTimeoutSeconds="90")
    assert settings.region == "us-central1"
    assert settings.buckets.images == f"{PROJECT}-ai-service-images"
    assert settings.buckets.source == f"{PROJECT}-ai-service-source"
    assert settings.delivery.ack_deadline_seconds == 90
    # Pulumi.yaml's default, 0, means the same.
    assert (
        load(ackDeadlineSeconds="0", functionTimeoutSeconds="90").delivery.ack_deadline_seconds
        == 90
    )


def test_every_section_of_the_settings_is_declared() -> None:
    assert tuple(type(section) for section in load().sections) == SECTIONS
    assert len({key.name for key in KEYS}) == len(KEYS), "a key is declared twice"


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
        ({"minScore": "nan"}, r"ai-service:minScore must be a number from 0 to 1, got nan"),
        ({"maxLabels": "0"}, r"ai-service:maxLabels must be an integer from 1 to 100, got 0"),
        ({"maxLabels": "101"}, r"ai-service:maxLabels must be an integer from 1 to 100, got 101"),
        ({"functionConcurrency": "0"}, r"ai-service:functionConcurrency must be an integer"),
        ({"functionConcurrency": "many"}, r"ai-service:functionConcurrency must be an integer"),
        (
            {"functionConcurrency": "8", "functionCpu": "0.5"},
            r"ai-service:functionCpu must be at least 1 when ai-service:functionConcurrency > 1",
        ),
        ({"functionCpu": "0"}, r"ai-service:functionCpu must be a number of vCPUs above 0"),
        ({"functionCpu": "inf"}, r"ai-service:functionCpu must be a number of vCPUs above 0"),
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
            {"visionTimeoutSeconds": "2.5"},
            r"ai-service:visionTimeoutSeconds must be an integer from 1 to 540, got '2\.5'",
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
            r"ai-service:visionFeatures must be a comma-separated subset of LABEL_DETECTION, "
            r"OBJECT_LOCALIZATION, SAFE_SEARCH_DETECTION, got .* \(unknown: FACE_DETECTION\)",
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
        # Below the dead-letter retention plus a day, a redriven message finds no image.
        ({"imagesRetentionDays": "7"}, r"ai-service:imagesRetentionDays must be an integer from 8"),
        ({"imagesRetentionDays": "0"}, r"ai-service:imagesRetentionDays must be an integer from 8"),
        (
            {"metricPropagationSeconds": "901"},
            r"ai-service:metricPropagationSeconds must be an integer from 0",
        ),
        ({"reviewMinScore": "0.5"}, r"ai-service:reviewMinScore must be a number from 0 to below "),
        ({"reviewMinScore": "0.7", "minScore": "0.6"}, r"reviewMinScore must be .* got 0\.7"),
        ({"reviewMinScore": "-0.1"}, r"ai-service:reviewMinScore must be"),
        ({"reviewMinScore": "half"}, r"ai-service:reviewMinScore must be .*got 'half'"),
        ({"reviewMinScore": "0.0", "minScore": "0"}, r"ai-service:reviewMinScore must be"),
        ({"alertEmails": "oncall"}, r"ai-service:alertEmails must be comma-separated e-mail"),
        ({"alertEmails": "a@example.com, b@"}, r"got \['b@'\]"),
        (
            {"alertNotificationChannels": "12345"},
            r"ai-service:alertNotificationChannels must be comma-separated channel resource names",
        ),
        ({"alertDeadLetterDurationSeconds": "90"}, r"whole number of minutes .* got 90"),
        (
            {"alertRetryDurationSeconds": "-60"},
            r"alertRetryDurationSeconds must be a whole number of minutes in seconds .*got -60",
        ),
        ({"alertServerErrorDurationSeconds": "90000"}, r"up to 86400, got 90000"),
        ({"alertBacklogAgeSeconds": "30"}, r"alertBacklogAgeSeconds must be an integer from 60"),
        ({"alertRetryRatio": "0"}, r"ai-service:alertRetryRatio must be a number above 0 and at"),
        ({"alertRetryRatio": "1.5"}, r"ai-service:alertRetryRatio must be"),
        ({"alertServerErrorsPerMinute": "0"}, r"alertServerErrorsPerMinute must be a number above"),
        ({"runbookUrl": "docs/runbook.md"}, r"ai-service:runbookUrl must be an http\(s\) URL"),
        (
            {"runbookUrl": "https://example.com/runbook.md#top"},
            r"ai-service:runbookUrl must be an http\(s\) URL without a #fragment",
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
    assert settings.buckets.images == f"{project}-ai-service-images"


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
    assert load(forceDestroy=raw).buckets.force_destroy is expected
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


@pytest.mark.parametrize(
    "raw",
    [
        "a@example.com,b@example.org",
        " a@example.com , b@example.org ",
        "a@example.com,b@example.org,a@example.com",
    ],
)
def test_alert_emails_are_comma_separated_and_deduplicated(raw: str) -> None:
    assert load(alertEmails=raw).alerting.emails == ("a@example.com", "b@example.org")


@pytest.mark.parametrize(
    "raw",
    [
        '["a@example.com", "b@example.org"]',
        "['a@example.com', 'b@example.org']",  # str() of a YAML list in a stack file
        "a@example.com; b@example.org",
        "a@example.com b@example.org",
    ],
)
def test_other_list_spellings_are_refused_naming_the_one_form(raw: str) -> None:
    with pytest.raises(
        SettingsError,
        match=r"ai-service:alertEmails must be comma-separated e-mail addresses such as "
        r"oncall@example\.com,sre@example\.org, got \[",
    ):
        load(alertEmails=raw)


def test_concurrency_one_allows_fractional_cpu() -> None:
    capacity = load(functionConcurrency="1", functionCpu="0.5").capacity
    assert (capacity.concurrency, capacity.cpu) == (1, "0.5")


def test_a_review_min_score_of_zero_is_a_valid_band() -> None:
    assert load(reviewMinScore="0").labeling.review_min_score == 0.0


def test_feature_names_are_normalised_and_deduplicated() -> None:
    labeling = load(visionFeatures="label_detection, LABEL_DETECTION,object_localization").labeling
    assert labeling.vision_features == (Feature.LABEL_DETECTION, Feature.OBJECT_LOCALIZATION)


def test_stack_label_is_a_valid_label_value() -> None:
    settings = load_settings(PROJECT, None, {}, stack="Prod.EU")
    assert settings.labels["environment"] == "prod-eu"


def test_the_program_fails_with_the_validation_message() -> None:
    with pytest.raises(pulumi.RunError, match=r"ai-service:minScore must be a number from 0 to 1"):
        run_program({"minScore": "2"})


def test_the_program_refuses_secret_config_because_previews_can_decrypt_it() -> None:
    """Issue 17 finding 5: a pull request's preview runs its own code and can open the stack."""
    with pytest.raises(pulumi.RunError, match=r"ai-service:alertEmails set as secret"):
        run_program({"alertEmails": "oncall@example.com"}, secret=["ai-service:alertEmails"])


def test_the_program_requires_gcp_project() -> None:
    with pytest.raises(pulumi.RunError, match=r"gcp:project is required"):
        run_program(project=None)


def test_pulumi_yaml_runs_the_program_in_infra_with_the_repository_virtualenv() -> None:
    document = yaml.safe_load((REPOSITORY / "Pulumi.yaml").read_text())
    assert document["name"] == "ai-service"
    assert document["main"] == "infra/"
    assert document["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }


def test_dev_stack_config_is_valid_without_a_project_id() -> None:
    document = yaml.safe_load((REPOSITORY / "Pulumi.dev.yaml").read_text())
    config: dict[str, object] = document["config"]
    assert "gcp:project" not in config
    # Pulumi hands the program text; YAML true arrives as "true".
    values = {
        key.split(":", 1)[1]: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in config.items()
        if key.startswith("ai-service:")
    }
    settings = load_settings(PROJECT, str(config.get("gcp:region")), values, stack="dev")
    assert settings.buckets.force_destroy is True


# --- The environment the stack deploys is one the function accepts, with the same values ---------

FED = {key.name: key for key in KEYS if key.feeds is not None}
LABELING = keys_of(Labeling)


def function_sees_what_the_stack_set(settings: Settings) -> None:
    """The function starts on the deployed environment and reads every fed key's value unchanged."""
    environment = settings.function_environment()
    function.Settings.from_env(environment)  # the whole startup validation, cross-checks included
    for section in settings.sections:
        for field, key in keys_of(type(section)).items():
            if key.feeds is not None:
                stack_value = getattr(section, field)
                assert key.feeds.read(environment) == stack_value, (key.name, environment)


def test_the_deployed_defaults_are_the_function_s_own_defaults() -> None:
    settings = load()
    function_sees_what_the_stack_set(settings)
    deployed = function.Settings.from_env(settings.function_environment())
    required = {
        variable.name: settings.function_environment()[variable.name]
        for variable in function.VARIABLES
        if variable.required
    }
    assert deployed == function.Settings.from_env(required)


def ends(field: str) -> tuple[str, str]:
    """The lowest and highest value the stack takes for a Labeling key, as config text."""
    kind = LABELING[field].kind
    if isinstance(kind, Integer):
        return str(kind.low), str(kind.high)
    assert isinstance(kind, Number), field
    low = math.nextafter(kind.low, math.inf) if kind.above_low else kind.low
    return repr(low), repr(kind.high)


def edge_configurations() -> Iterator[dict[str, str]]:
    """Each fed key at both ends of its range, with what its cross-key rules need around it."""
    for field in ("min_score", "max_labels"):
        for end in ends(field):
            yield {LABELING[field].name: end}
    low, high = ends("review_min_score")
    yield {"reviewMinScore": low}
    yield {"minScore": high, "reviewMinScore": repr(math.nextafter(float(high), 0))}
    # Both timeouts together must stay below the function timeout, which is at most its high end.
    function_timeout = keys_of(Capacity)["timeout_seconds"].kind
    assert isinstance(function_timeout, Integer)
    shortest, longest = ends("vision_timeout_seconds")[0], str(function_timeout.high - 2)
    for vision, publish in ((shortest, shortest), (longest, shortest), (shortest, longest)):
        yield {
            "visionTimeoutSeconds": vision,
            "publishTimeoutSeconds": publish,
            "functionTimeoutSeconds": str(
                min(int(vision) + int(publish) + 1, function_timeout.high)
            ),
        }
    yield {"targetLabels": "a"}
    yield {"targetLabels": " Bicycle , bicycle,Tandem bike ,Bicycle"}
    for feature in Feature:
        yield {"visionFeatures": feature.value.lower()}
    yield {"visionFeatures": ",".join(feature.value for feature in reversed(Feature))}
    yield {"imagesBucketName": "abc"}
    yield {"imagesBucketName": "a" * 63}


@pytest.mark.parametrize("values", list(edge_configurations()), ids=str)
def test_every_edge_the_stack_deploys_reaches_the_function_unchanged(
    values: dict[str, str],
) -> None:
    function_sees_what_the_stack_set(load(**values))


def text_of(key: Key[Any]) -> st.SearchStrategy[str]:
    """Config text a fed key's kind accepts, edges included."""
    kind = key.kind
    if isinstance(kind, Integer):
        strategy = st.integers(kind.low, kind.high).map(str)
    elif isinstance(kind, Number):
        strategy = st.floats(kind.low, kind.high, exclude_min=kind.above_low).map(repr)
    elif isinstance(kind, Names):
        name = st.text(string.ascii_letters + " -", min_size=1).filter(str.strip)
        strategy = st.lists(name, min_size=1, max_size=4).map(", ".join)
    elif isinstance(kind, Features):
        strategy = st.lists(st.sampled_from([item.value for item in Feature]), min_size=1).map(
            ",".join
        )
    elif kind == BUCKET:
        strategy = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True)
    else:
        raise AssertionError(f"{key.name}: give its kind a strategy here")
    return st.one_of(st.just(""), strategy) if key.optional else strategy


@given(st.fixed_dictionaries({name: text_of(key) for name, key in FED.items()}))
def test_whatever_the_stack_accepts_the_function_accepts_unchanged(values: dict[str, str]) -> None:
    try:
        settings = load(**values, functionTimeoutSeconds="540")
    except SettingsError:
        reject()  # a cross-key rule the stack enforces (review band, timeouts)
    function_sees_what_the_stack_set(settings)
