"""The User-Service stack's settings: read once from config, validated, frozen. Pure: no Pulumi imports.

Every key is declared once in KEYS below (its Pulumi type, default and range) and described in
user_service/Pulumi.yaml (namespace `user-service:`); tests/user_service/test_stack.py fails, naming
the key, when the two disagree on keys, types or defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from user_uploads import config as function

# Fixed names (documented in docs/user-service.md): one User-Service stack per project.
FUNCTION_NAME = "user-service"
RUNTIME_ACCOUNT_ID = "user-service"
PUSH_ACCOUNT_ID = "user-service-push"
BUILD_ACCOUNT_ID = "user-service-builder"
RESULTS_SUBSCRIPTION = "user-service-results-push"
DEAD_LETTER_TOPIC = "user-service-results-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "user-service-results-dead-letter"
ARTIFACT_REPOSITORY = "user-service-functions"
RESULTS_PATH = "/pubsub/results"
FUNCTION_RUNTIME = "python312"
ENTRY_POINT = "handle_request"
FIRESTORE_DATABASE = "(default)"  # the one database the client libraries use unless told

CONFIG_NAMESPACE = "user-service"
# What the program reads from the AI-Service stack (infra/composition.py exports these names).
AI_SERVICE_OUTPUTS = ("project", "region", "imagesBucket", "newImageTopic", "labeledTopic")

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FUNCTION_SOURCE = REPOSITORY_ROOT / "user_service" / "function"
DEFAULT_ARCHIVE_DIRECTORY = REPOSITORY_ROOT / "build" / "user-service-archives"


@dataclass(frozen=True)
class Key:
    """One user-service:* key: its Pulumi config type, its default as config holds it (None: none,
    the key is required or derived) and, for an integer, the range it accepts."""

    type: str  # string, boolean or integer, as in Pulumi.yaml
    default: str | None = None
    low: int = 0
    high: int = 0


KEYS: Mapping[str, Key] = {
    "aiServiceStack": Key("string"),  # required: organization/ai-service/<stack>
    "sourceBucketName": Key("string", ""),  # empty: derived from the project id
    "forceDestroy": Key("boolean", "false"),
    "maxUploadBytes": Key(
        "integer", str(function.DEFAULT_MAX_UPLOAD_BYTES), 1, function.MAX_UPLOAD_BYTES
    ),
    "uploadUrlSeconds": Key(
        "integer", str(function.DEFAULT_UPLOAD_URL_SECONDS), 60, function.MAX_UPLOAD_URL_SECONDS
    ),
    "verdictDeadlineSeconds": Key(
        "integer", str(function.DEFAULT_VERDICT_DEADLINE_SECONDS), 1, 86400
    ),
    "maxInstances": Key("integer", "10", 1, 1000),
    # Pub/Sub's own bounds for a dead-letter policy.
    "maxDeliveryAttempts": Key("integer", "10", 5, 100),
    "minimumBackoffSeconds": Key("integer", "10", 0, 600),
    "maximumBackoffSeconds": Key("integer", "600", 0, 600),
    "apiPropagationSeconds": Key("integer", "60", 0, 3600),
    # IAM: "typically 2 minutes" (access-change-propagation)
    "iamPropagationSeconds": Key("integer", "120", 0, 3600),
}
CONFIG_KEYS = tuple(KEYS)
ACK_DEADLINE_SECONDS = 60  # the results endpoint answers in well under a second
FUNCTION_TIMEOUT_SECONDS = 60
FUNCTION_CONCURRENCY = 80
FUNCTION_CPU = "1"  # concurrency above 1 needs at least 1 vCPU
FUNCTION_MEMORY = "512Mi"

_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


class SettingsError(ValueError):
    """A configuration value is missing or outside what the stack supports."""


@dataclass(frozen=True)
class Settings:
    project: str
    region: str
    stack: str
    ai_service_stack: str
    source_bucket_name: str
    force_destroy: bool
    max_upload_bytes: int
    upload_url_seconds: int
    verdict_deadline_seconds: int
    max_instances: int
    max_delivery_attempts: int
    minimum_backoff_seconds: int
    maximum_backoff_seconds: int
    api_propagation_seconds: int
    iam_propagation_seconds: int
    function_source: Path
    archive_directory: Path

    @property
    def push_audience(self) -> str:
        """The audience of the push tokens: this endpoint's cloudfunctions.net URL, known before the
        function exists (its run.app URL is not, and the function's own environment needs it)."""
        return (
            f"https://{self.region}-{self.project}.cloudfunctions.net/{FUNCTION_NAME}{RESULTS_PATH}"
        )

    def function_environment(
        self,
        bucket: str,
        new_image_topic: str,
        new_image_topic_project: str,
        signer: str,
        push_account: str,
    ) -> dict[str, str]:
        """What user_uploads.config reads (never a LOCAL_PUSH_TOKEN nor an emulator host)."""
        return {
            "PROJECT_ID": self.project,
            "BUCKET_NAME": bucket,
            "NEW_IMAGE_TOPIC": new_image_topic,
            "NEW_IMAGE_TOPIC_PROJECT": new_image_topic_project,  # the AI stack's, maybe not ours
            "SIGNER_EMAIL": signer,
            "PUSH_AUDIENCE": self.push_audience,
            "PUSH_ACCOUNT": push_account,
            "MAX_UPLOAD_BYTES": str(self.max_upload_bytes),
            "UPLOAD_URL_SECONDS": str(self.upload_url_seconds),
            "VERDICT_DEADLINE_SECONDS": str(self.verdict_deadline_seconds),
        }


def _key(name: str) -> str:
    return f"{CONFIG_NAMESPACE}:{name}"


def _integer(values: Mapping[str, str | None], name: str) -> int:
    key = KEYS[name]
    text = (values.get(name) or key.default or "").strip()
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{_key(name)} must be a whole number, got {text!r}") from None
    if not key.low <= value <= key.high:
        raise SettingsError(f"{_key(name)} must be from {key.low} to {key.high}, got {value}")
    return value


def load_settings(
    project: str | None,
    region: str | None,
    values: Mapping[str, str | None],
    *,
    stack: str = "dev",
    function_source: Path = DEFAULT_FUNCTION_SOURCE,
    archive_directory: Path = DEFAULT_ARCHIVE_DIRECTORY,
) -> Settings:
    """Validates raw config strings (`values`, keyed by user-service:* key) into Settings."""
    if not project:
        raise SettingsError("gcp:project is required (pulumi config set gcp:project <id>)")
    region = region or "us-central1"
    if not _REGION.match(region):
        raise SettingsError(f"gcp:region must be a region such as us-central1, got {region!r}")
    reference = (values.get("aiServiceStack") or "").strip()
    if not _STACK_NAME.match(reference):
        raise SettingsError(
            f"{_key('aiServiceStack')} is required: the AI-Service stack to read the topics and "
            f"the images bucket from, e.g. organization/ai-service/dev; got {reference!r}"
        )
    source_bucket = (
        values.get("sourceBucketName") or ""
    ).strip() or f"{project}-user-service-source"
    if not _BUCKET.match(source_bucket):
        raise SettingsError(f"{_key('sourceBucketName')} is not a bucket name: {source_bucket!r}")
    force = (values.get("forceDestroy") or KEYS["forceDestroy"].default or "").strip().lower()
    if force not in ("true", "false"):
        raise SettingsError(f"{_key('forceDestroy')} must be true or false, got {force!r}")
    minimum_backoff = _integer(values, "minimumBackoffSeconds")
    maximum_backoff = _integer(values, "maximumBackoffSeconds")
    if minimum_backoff > maximum_backoff:
        raise SettingsError(
            f"{_key('minimumBackoffSeconds')} ({minimum_backoff}) must not exceed "
            f"{_key('maximumBackoffSeconds')} ({maximum_backoff})"
        )
    return Settings(
        project=project,
        region=region,
        stack=stack,
        ai_service_stack=reference,
        source_bucket_name=source_bucket,
        force_destroy=force == "true",
        max_upload_bytes=_integer(values, "maxUploadBytes"),
        upload_url_seconds=_integer(values, "uploadUrlSeconds"),
        verdict_deadline_seconds=_integer(values, "verdictDeadlineSeconds"),
        max_instances=_integer(values, "maxInstances"),
        max_delivery_attempts=_integer(values, "maxDeliveryAttempts"),
        minimum_backoff_seconds=minimum_backoff,
        maximum_backoff_seconds=maximum_backoff,
        api_propagation_seconds=_integer(values, "apiPropagationSeconds"),
        iam_propagation_seconds=_integer(values, "iamPropagationSeconds"),
        function_source=function_source,
        archive_directory=archive_directory,
    )
