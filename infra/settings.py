"""The stack's settings: read once from config, validated, frozen. Pure: no Pulumi imports."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

# Cross-team contracts: never auto-named, never configurable.
NEW_IMAGE_TOPIC = "user-service-new-image"
LABELED_TOPIC = "ai-service-image-labeled"
FUNCTION_NAME = "ai-service-image-labeling"
RUNTIME_ACCOUNT_ID = "ai-service-sa"

# Our own fixed names (documented in the README).
INVOKER_ACCOUNT_ID = "ai-service-invoker"
BUILD_ACCOUNT_ID = "ai-service-builder"
DEAD_LETTER_TOPIC = "ai-service-image-labeling-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "ai-service-image-labeling-dead-letter"
PUSH_SUBSCRIPTION = "ai-service-image-labeling-push"
RESULTS_SUBSCRIPTION = "user-service-image-labeled"
ARTIFACT_REPOSITORY = "ai-service-functions"
FUNCTION_RUNTIME = "python312"
ENTRY_POINT = "label_image"

CONFIG_NAMESPACE = "ai-service"
VISION_FEATURES = ("LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION")
# Event-driven function limit; the push subscription's ack deadline (max 600 s) must cover it.
MAX_FUNCTION_TIMEOUT_SECONDS = 540
MAX_ACK_DEADLINE_SECONDS = 600
MAX_BACKOFF_SECONDS = 600

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FUNCTION_SOURCE = REPOSITORY_ROOT / "function"
DEFAULT_ARCHIVE_DIRECTORY = REPOSITORY_ROOT / "build" / "function-archives"

# Every ai-service:* key the program reads, with its default (as config would hold it).
DEFAULTS: Mapping[str, str | None] = {
    "imagesBucketName": None,  # derived from the project id
    "sourceBucketName": None,  # derived from the project id
    "forceDestroy": "false",
    "targetLabels": "Bicycle",
    "minScore": "0.5",
    "maxLabels": "10",
    "visionFeatures": "LABEL_DETECTION",
    "visionTimeoutSeconds": "20",
    "publishTimeoutSeconds": "10",
    "functionTimeoutSeconds": "60",
    "functionConcurrency": "80",
    "functionCpu": "1",
    "functionMemory": "512Mi",
    "minInstances": "0",
    "maxInstances": "10",
    "maxDeliveryAttempts": "30",  # a 10x-quota burst of 10 min dead-letters nothing: docs/overload.md
    "minimumBackoffSeconds": "10",
    "maximumBackoffSeconds": "600",
    "ackDeadlineSeconds": None,  # unset or 0: the function timeout
    "apiPropagationSeconds": "60",
    # IAM: "typically 2 minutes, potentially 7 minutes or longer" (cloud.google.com/iam/docs/
    # access-change-propagation); 60 s failed about half the builds of TPG's own builder
    # sample (terraform-provider-google #20571).
    "iamPropagationSeconds": "120",
    # A new log-based metric is unknown to Cloud Monitoring for a while: an alert policy naming it
    # is refused with 404 "Cannot find metric(s) ... could take up to 10 minutes" (TPG #11102).
    "metricPropagationSeconds": "180",
    # The review band (function REVIEW_MIN_SCORE); unset: no band, results as before.
    "reviewMinScore": None,
    # Monitoring (infra/monitoring.py): where alerts go, and when they fire.
    "alertEmails": None,  # none: the alert policies exist, unrouted
    "alertNotificationChannels": None,  # existing channels (Slack, PagerDuty, ...) by resource name
    "alertDeadLetterDurationSeconds": "300",
    "alertBacklogAgeSeconds": "600",
    "alertBacklogDurationSeconds": "300",
    "alertRetryRatio": "0.1",
    "alertRetryDurationSeconds": "600",
    "alertServerErrorsPerMinute": "6",
    "alertServerErrorDurationSeconds": "600",
    "runbookUrl": "https://github.com/bike-sharing/ai-service/blob/main/README.md#runbook",
}
CONFIG_KEYS = tuple(DEFAULTS)

# Only what is surely not a project id: Google's own 6-30 character rule would refuse the short
# ids test suites use ("proj", "p"), and the API reports a wrong id clearly enough.
_NOT_A_PROJECT_ID = re.compile(r"[\sA-Z/]")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(k|M|G|Mi|Gi)$")
_LABEL_VALUE = re.compile(r"[^a-z0-9_-]")
_EMAIL = re.compile(r"^[^@\s,;\[\]\"']+@[^@\s,;\[\]\"']+\.[^@\s,;\[\]\"'.]+$")
_CHANNEL = re.compile(r"^projects/[^/\s]+/notificationChannels/[^/\s]+$")
# Cloud Monitoring only supports condition durations in whole minutes, up to a day.
MAX_ALERT_DURATION_SECONDS = 86400


class SettingsError(ValueError):
    """A configuration value is missing or outside what the stack supports."""


@dataclass(frozen=True)
class Alerting:
    """Where the alert policies send notifications, and their thresholds (infra/monitoring.py)."""

    emails: tuple[str, ...]
    notification_channels: tuple[str, ...]
    dead_letter_duration_seconds: int
    backlog_age_seconds: int
    backlog_duration_seconds: int
    retry_ratio: float
    retry_duration_seconds: int
    server_errors_per_minute: float
    server_error_duration_seconds: int
    runbook_url: str


@dataclass(frozen=True)
class Settings:
    """Everything the program needs, typed and validated."""

    project: str
    region: str
    stack: str
    images_bucket_name: str
    source_bucket_name: str
    force_destroy: bool
    target_labels: tuple[str, ...]
    min_score: float
    review_min_score: float | None
    max_labels: int
    vision_features: tuple[str, ...]
    vision_timeout_seconds: int
    publish_timeout_seconds: int
    function_timeout_seconds: int
    function_concurrency: int
    function_cpu: str
    function_memory: str
    min_instances: int
    max_instances: int
    max_delivery_attempts: int
    minimum_backoff_seconds: int
    maximum_backoff_seconds: int
    ack_deadline_seconds: int
    api_propagation_seconds: int
    iam_propagation_seconds: int
    metric_propagation_seconds: int
    alerting: Alerting
    function_source: Path
    archive_directory: Path
    labels: Mapping[str, str] = field(default_factory=dict)

    def function_environment(self) -> dict[str, str]:
        """The environment the function reads (see function/labeling configuration)."""
        return {
            "PROJECT_ID": self.project,
            "TOPIC_ID": LABELED_TOPIC,
            "BUCKET_NAME": self.images_bucket_name,
            "TARGET_LABELS": ",".join(self.target_labels),
            "MIN_SCORE": _format_number(self.min_score),
            # Only when set: without it the function's results are exactly as before.
            **(
                {}
                if self.review_min_score is None
                else {"REVIEW_MIN_SCORE": _format_number(self.review_min_score)}
            ),
            "MAX_LABELS": str(self.max_labels),
            "VISION_FEATURES": ",".join(self.vision_features),
            "VISION_TIMEOUT_SECONDS": str(self.vision_timeout_seconds),
            "PUBLISH_TIMEOUT_SECONDS": str(self.publish_timeout_seconds),
            # functions-framework sizes gunicorn's gthread pool from THREADS; it must equal the
            # per-instance concurrency or Cloud Run routes requests that then queue inside.
            "THREADS": str(self.function_concurrency),
        }


T = TypeVar("T")


def _key(name: str) -> str:
    return f"{CONFIG_NAMESPACE}:{name}"


def _parse(name: str, raw: str, convert: Callable[[str], T], expected: str) -> T:
    try:
        return convert(raw.strip())
    except ValueError:
        raise SettingsError(f"{_key(name)} must be {expected}, got {raw!r}") from None


def _integer(name: str, raw: str, low: int, high: int | None = None) -> int:
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    value = _parse(name, raw, int, expected)
    if value < low or (high is not None and value > high):
        raise SettingsError(f"{_key(name)} must be {expected}, got {value}")
    return value


def _boolean(name: str, raw: str) -> bool:
    # Exactly what Pulumi's typed boolean config accepts (pulumi.Config.get_bool: "true"/"True",
    # "false"/"False"); "True" is also what str() makes of a YAML/JSON boolean.
    if raw in ("true", "True"):
        return True
    if raw in ("false", "False"):
        return False
    raise SettingsError(
        f"{_key(name)} must be true or false (as Pulumi's boolean config), got {raw!r}"
    )


def _csv(name: str, raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise SettingsError(f"{_key(name)} must be a non-empty comma-separated list, got {raw!r}")
    return items


def _bucket(name: str, value: str) -> str:
    if not _BUCKET.match(value) or value.startswith("goog") or ".." in value:
        raise SettingsError(
            f"{_key(name)} must be a valid bucket name (3-63 characters: lowercase letters, "
            f"digits, '-', '_', '.'; starting and ending with a letter or digit), got {value!r}"
        )
    return value


def _format_number(value: float) -> str:
    return f"{value:g}"


def label_value(text: str) -> str:
    """A string turned into a valid label value (lowercase, [a-z0-9_-], at most 63 chars)."""
    return _LABEL_VALUE.sub("-", text.lower())[:63]


def _identity(project: str | None, region: str | None) -> tuple[str, str]:
    if not project:
        raise SettingsError(
            "gcp:project is required: set it with `pulumi config set gcp:project <PROJECT_ID>` "
            "(or `make deploy PROJECT=<PROJECT_ID>`)"
        )
    if _NOT_A_PROJECT_ID.search(project):
        raise SettingsError(
            "gcp:project must be a project id (lowercase, without spaces or '/', such as "
            f"my-project-123), got {project!r}"
        )
    region = region or "us-central1"
    if not _REGION.match(region):
        raise SettingsError(f"gcp:region must be a region such as us-central1, got {region!r}")
    return project, region


class _Raw:
    """Config strings with the defaults applied ('' counts as unset)."""

    def __init__(self, values: Mapping[str, str | None]) -> None:
        unknown = sorted(set(values) - set(CONFIG_KEYS))
        if unknown:
            raise SettingsError(
                f"unknown config keys {unknown}; expected some of {list(CONFIG_KEYS)}"
            )
        self._values = values

    def optional(self, name: str) -> str | None:
        value = self._values.get(name)
        return DEFAULTS[name] if value is None or value == "" else value

    def __call__(self, name: str) -> str:
        value = self.optional(name)
        if value is None:  # pragma: no cover - only keys with a default are read this way
            raise SettingsError(f"{_key(name)} is required")
        return value


def _buckets(raw: _Raw, project: str) -> tuple[str, str]:
    images = _bucket(
        "imagesBucketName", raw.optional("imagesBucketName") or f"{project}-ai-service-images"
    )
    source = _bucket(
        "sourceBucketName", raw.optional("sourceBucketName") or f"{project}-ai-service-source"
    )
    if images == source:
        raise SettingsError(
            f"{_key('imagesBucketName')} and {_key('sourceBucketName')} must differ, "
            f"both are {images!r}"
        )
    return images, source


def _labeling(raw: _Raw) -> tuple[tuple[str, ...], float, int, tuple[str, ...]]:
    targets = _csv("targetLabels", raw("targetLabels"))
    min_score = _parse("minScore", raw("minScore"), float, "a number from 0 to 1")
    if not 0.0 <= min_score <= 1.0:
        raise SettingsError(f"{_key('minScore')} must be a number from 0 to 1, got {min_score:g}")
    max_labels = _integer("maxLabels", raw("maxLabels"), 1, 100)
    features = tuple(feature.upper() for feature in _csv("visionFeatures", raw("visionFeatures")))
    unknown = [feature for feature in features if feature not in VISION_FEATURES]
    if unknown:
        raise SettingsError(
            f"{_key('visionFeatures')} must list only {', '.join(VISION_FEATURES)}; "
            f"unknown: {', '.join(unknown)}"
        )
    return targets, min_score, max_labels, tuple(dict.fromkeys(features))


def _timeouts(raw: _Raw) -> tuple[int, int, int]:
    function_timeout = _integer(
        "functionTimeoutSeconds", raw("functionTimeoutSeconds"), 1, MAX_FUNCTION_TIMEOUT_SECONDS
    )
    vision_timeout = _integer("visionTimeoutSeconds", raw("visionTimeoutSeconds"), 1)
    publish_timeout = _integer("publishTimeoutSeconds", raw("publishTimeoutSeconds"), 1)
    if vision_timeout + publish_timeout >= function_timeout:
        raise SettingsError(
            f"{_key('visionTimeoutSeconds')} + {_key('publishTimeoutSeconds')} "
            f"({vision_timeout} + {publish_timeout}) must be less than "
            f"{_key('functionTimeoutSeconds')} ({function_timeout}), or the function is killed "
            "before it can publish"
        )
    return function_timeout, vision_timeout, publish_timeout


def _capacity(raw: _Raw) -> tuple[int, str, str, int, int]:
    concurrency = _integer("functionConcurrency", raw("functionConcurrency"), 1, 1000)
    cpu_text = raw("functionCpu").strip()
    cpu = _parse("functionCpu", cpu_text, float, "a number of vCPUs such as 1 or 2")
    if cpu <= 0:
        raise SettingsError(
            f"{_key('functionCpu')} must be a positive number of vCPUs, got {cpu_text}"
        )
    if concurrency > 1 and cpu < 1:
        raise SettingsError(
            f"{_key('functionCpu')} must be at least 1 when {_key('functionConcurrency')} > 1 "
            f"(Cloud Run rejects concurrency above 1 with less than 1 vCPU), got {cpu_text} "
            f"with concurrency {concurrency}"
        )
    memory = raw("functionMemory").strip()
    if not _MEMORY.match(memory):
        raise SettingsError(
            f"{_key('functionMemory')} must be a size such as 512Mi or 1Gi, got {memory!r}"
        )
    min_instances = _integer("minInstances", raw("minInstances"), 0, 1000)
    max_instances = _integer("maxInstances", raw("maxInstances"), 1, 1000)
    if min_instances > max_instances:
        raise SettingsError(
            f"{_key('minInstances')} ({min_instances}) must not exceed "
            f"{_key('maxInstances')} ({max_instances})"
        )
    return concurrency, cpu_text, memory, min_instances, max_instances


def _delivery(raw: _Raw, function_timeout: int) -> tuple[int, int, int, int]:
    attempts = _integer("maxDeliveryAttempts", raw("maxDeliveryAttempts"), 5, 100)
    minimum_backoff = _integer(
        "minimumBackoffSeconds", raw("minimumBackoffSeconds"), 0, MAX_BACKOFF_SECONDS
    )
    maximum_backoff = _integer(
        "maximumBackoffSeconds", raw("maximumBackoffSeconds"), 0, MAX_BACKOFF_SECONDS
    )
    if minimum_backoff > maximum_backoff:
        raise SettingsError(
            f"{_key('minimumBackoffSeconds')} ({minimum_backoff}) must not exceed "
            f"{_key('maximumBackoffSeconds')} ({maximum_backoff})"
        )
    ack_text = raw.optional("ackDeadlineSeconds")
    if ack_text is None or ack_text.strip() == "0":
        ack_deadline = max(function_timeout, 10)  # Pub/Sub's minimum ack deadline is 10 s
    else:
        ack_deadline = _integer("ackDeadlineSeconds", ack_text, 10, MAX_ACK_DEADLINE_SECONDS)
    if ack_deadline < function_timeout:
        raise SettingsError(
            f"{_key('ackDeadlineSeconds')} ({ack_deadline}) must be at least "
            f"{_key('functionTimeoutSeconds')} ({function_timeout}), or Pub/Sub redelivers "
            "messages the function is still processing"
        )
    return attempts, minimum_backoff, maximum_backoff, ack_deadline


def _review_min_score(raw: _Raw, min_score: float) -> float | None:
    text = raw.optional("reviewMinScore")
    if text is None:
        return None
    expected = f"a number from 0 to below {_key('minScore')} ({min_score:g})"
    value = _parse("reviewMinScore", text, float, expected)
    # Compared as deployed (formatted), so the function's own check at startup cannot disagree.
    if not 0.0 <= value <= 1.0 or float(_format_number(value)) >= float(_format_number(min_score)):
        raise SettingsError(
            f"{_key('reviewMinScore')} must be {expected}, or the review band "
            f"[reviewMinScore, minScore) is empty; got {value:g}"
        )
    return value


def _list(name: str, raw: str | None) -> tuple[str, ...]:
    """A list from config: comma-separated text, or a list (JSON, or Python's str() of one)."""
    if raw is None or not raw.strip():
        return ()
    text = raw.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise SettingsError(f"{_key(name)} must be a list of strings, got {raw!r}")
        items = [item.strip() for item in parsed]
    else:
        items = [item.strip() for item in re.split(r"[,;\s]+", text)]
    return tuple(dict.fromkeys(item for item in items if item))


def _duration(name: str, raw: str) -> int:
    seconds = _integer(name, raw, 0, MAX_ALERT_DURATION_SECONDS)
    if seconds % 60:
        raise SettingsError(
            f"{_key(name)} must be a whole number of minutes in seconds (0, 60, 300, ...): "
            f"Cloud Monitoring accepts no other condition duration; got {seconds}"
        )
    return seconds


def _positive(name: str, raw: str, high: float | None = None) -> float:
    expected = "a number above 0" + ("" if high is None else f" and at most {high:g}")
    value = _parse(name, raw, float, expected)
    if not value > 0 or (high is not None and value > high):
        raise SettingsError(f"{_key(name)} must be {expected}, got {raw!r}")
    return value


def _alerting(raw: _Raw) -> Alerting:
    emails = _list("alertEmails", raw.optional("alertEmails"))
    bad_emails = [email for email in emails if not _EMAIL.match(email)]
    if bad_emails:
        raise SettingsError(
            f"{_key('alertEmails')} must list e-mail addresses such as oncall@example.com "
            f"(comma-separated), got {bad_emails}"
        )
    channels = _list("alertNotificationChannels", raw.optional("alertNotificationChannels"))
    bad_channels = [channel for channel in channels if not _CHANNEL.match(channel)]
    if bad_channels:
        raise SettingsError(
            f"{_key('alertNotificationChannels')} must list channel resource names such as "
            f"projects/my-project/notificationChannels/123, got {bad_channels}"
        )
    backlog_age = _integer("alertBacklogAgeSeconds", raw("alertBacklogAgeSeconds"), 60, 604800)
    runbook_url = raw("runbookUrl").strip()
    if not runbook_url.startswith(("https://", "http://")):
        raise SettingsError(f"{_key('runbookUrl')} must be an http(s) URL, got {runbook_url!r}")
    return Alerting(
        emails=emails,
        notification_channels=channels,
        dead_letter_duration_seconds=_duration(
            "alertDeadLetterDurationSeconds", raw("alertDeadLetterDurationSeconds")
        ),
        backlog_age_seconds=backlog_age,
        backlog_duration_seconds=_duration(
            "alertBacklogDurationSeconds", raw("alertBacklogDurationSeconds")
        ),
        retry_ratio=_positive("alertRetryRatio", raw("alertRetryRatio"), 1.0),
        retry_duration_seconds=_duration(
            "alertRetryDurationSeconds", raw("alertRetryDurationSeconds")
        ),
        server_errors_per_minute=_positive(
            "alertServerErrorsPerMinute", raw("alertServerErrorsPerMinute")
        ),
        server_error_duration_seconds=_duration(
            "alertServerErrorDurationSeconds", raw("alertServerErrorDurationSeconds")
        ),
        runbook_url=runbook_url,
    )


def load_settings(
    project: str | None,
    region: str | None,
    values: Mapping[str, str | None],
    *,
    stack: str = "dev",
    function_source: Path | None = None,
    archive_directory: Path | None = None,
) -> Settings:
    """Validates raw config strings (`values`, keyed by ai-service:* key) into Settings."""
    project, region = _identity(project, region)
    raw = _Raw(values)
    images_bucket, source_bucket = _buckets(raw, project)
    targets, min_score, max_labels, features = _labeling(raw)
    function_timeout, vision_timeout, publish_timeout = _timeouts(raw)
    concurrency, cpu, memory, min_instances, max_instances = _capacity(raw)
    attempts, minimum_backoff, maximum_backoff, ack_deadline = _delivery(raw, function_timeout)
    return Settings(
        project=project,
        region=region,
        stack=stack,
        images_bucket_name=images_bucket,
        source_bucket_name=source_bucket,
        force_destroy=_boolean("forceDestroy", raw("forceDestroy")),
        target_labels=targets,
        min_score=min_score,
        review_min_score=_review_min_score(raw, min_score),
        max_labels=max_labels,
        vision_features=features,
        vision_timeout_seconds=vision_timeout,
        publish_timeout_seconds=publish_timeout,
        function_timeout_seconds=function_timeout,
        function_concurrency=concurrency,
        function_cpu=cpu,
        function_memory=memory,
        min_instances=min_instances,
        max_instances=max_instances,
        max_delivery_attempts=attempts,
        minimum_backoff_seconds=minimum_backoff,
        maximum_backoff_seconds=maximum_backoff,
        ack_deadline_seconds=ack_deadline,
        api_propagation_seconds=_integer(
            "apiPropagationSeconds", raw("apiPropagationSeconds"), 0, 600
        ),
        iam_propagation_seconds=_integer(
            "iamPropagationSeconds", raw("iamPropagationSeconds"), 0, 600
        ),
        metric_propagation_seconds=_integer(
            "metricPropagationSeconds", raw("metricPropagationSeconds"), 0, 900
        ),
        alerting=_alerting(raw),
        # Resolved at call time so tests can point the program at a temporary source tree.
        function_source=function_source or DEFAULT_FUNCTION_SOURCE,
        archive_directory=archive_directory or DEFAULT_ARCHIVE_DIRECTORY,
        labels={
            "app": "ai-service",
            "environment": label_value(stack),
            "managed-by": "pulumi",
        },
    )
