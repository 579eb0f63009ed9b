"""The stack's settings: every ai-service:* key declared once, read once from config, validated, frozen.

A key is one annotated field of a section below: its name, the values it accepts, its default as config
holds it, and what it means. A key that sets a function environment variable takes the function's own
declaration (labeling.config) through `fed`, so its range and default live there, once. Pulumi.yaml's
config block and docs/configuration.md are generated from these declarations (`make configuration`).
Pure: no Pulumi imports.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, Generic, TypeVar, get_args, get_type_hints

from labeling import config as function
from labeling.config import CommaSeparated, Feature, Integer, Invalid, Kind, Number, Variable

# Cross-team contracts: never auto-named, never configurable.
NEW_IMAGE_TOPIC = "user-service-new-image"
LABELED_TOPIC = "ai-service-image-labeled"
FUNCTION_NAME = "ai-service-image-labeling"
RUNTIME_ACCOUNT_ID = "ai-service-sa"
# Where the User-Service writes in the images bucket: its grant there reaches these objects only
# (the reference User-Service's OBJECT_PREFIX; tests/infra/test_user_service_access.py pins it).
USER_UPLOADS_PREFIX = "uploads/"

# Our own fixed names (docs/deploy.md "What gets created").
INVOKER_ACCOUNT_ID = "ai-service-invoker"
BUILD_ACCOUNT_ID = "ai-service-builder"
DEAD_LETTER_TOPIC = "ai-service-image-labeling-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "ai-service-image-labeling-dead-letter"
PUSH_SUBSCRIPTION = "ai-service-image-labeling-push"
RESULTS_SUBSCRIPTION = "user-service-image-labeled"
ARTIFACT_REPOSITORY = "ai-service-functions"
FUNCTION_RUNTIME = "python312"
ENTRY_POINT = "label_image"
OWN_ACCOUNT_IDS = (RUNTIME_ACCOUNT_ID, INVOKER_ACCOUNT_ID, BUILD_ACCOUNT_ID)

CONFIG_NAMESPACE = "ai-service"
DEFAULT_REGION = "us-central1"
# Event-driven function limit; the push subscription's ack deadline (max 600 s) must cover it.
MAX_FUNCTION_TIMEOUT_SECONDS = function.MAX_TIMEOUT_SECONDS
MAX_ACK_DEADLINE_SECONDS = 600
MAX_BACKOFF_SECONDS = 600
# How long the dead-letter subscription keeps what it is given (infra/topology.py): the window for an
# operator's redrive, and so the least time an uploaded image must outlive its message.
DEAD_LETTER_RETENTION_DAYS = 7
# After the dead-letter window, a redriven message retries for hours more (maxDeliveryAttempts with
# backoff; under a day even at their largest): a day covers it.
REDRIVE_MARGIN_DAYS = 1
# Cloud Monitoring only supports condition durations in whole minutes, up to a day.
MAX_ALERT_DURATION_SECONDS = 86400

T = TypeVar("T")
S = TypeVar("S")


class SettingsError(ValueError):
    """A configuration value is missing or outside what the stack supports."""


# --- What the stack's own keys accept (the function's kinds are in labeling.config) ---------------


class Boolean(Kind[bool]):
    # Exactly what Pulumi's typed boolean config accepts (pulumi.Config.get_bool: "true"/"True",
    # "false"/"False").
    expected = "true or false (True/False too, as Pulumi's typed boolean config; not yes or 1)"

    def parse(self, text: str) -> bool:
        if text in ("true", "True", "false", "False"):
            return text.lower() == "true"
        raise Invalid(self.expected, repr(text))

    def format(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class Pattern(Kind[str]):
    """Text that matches `pattern` in full (surrounding blanks stripped)."""

    pattern: str
    description: str

    @property
    def expected(self) -> str:
        return self.description

    def parse(self, text: str) -> str:
        value = text.strip()
        if not re.fullmatch(self.pattern, value):
            raise Invalid(self.expected, repr(text))
        return value


@dataclass(frozen=True)
class Listed(CommaSeparated):
    """Comma-separated items that each match `item`, or nothing."""

    item: str
    description: str

    @property
    def expected(self) -> str:
        return f"comma-separated {self.description}"

    def parse(self, text: str) -> tuple[str, ...]:
        items = self.items(text)
        wrong = [item for item in items if not re.fullmatch(self.item, item)]
        if wrong:
            raise Invalid(self.expected, str(wrong))
        return items


@dataclass(frozen=True)
class Minutes(Integer):
    """Seconds in whole minutes: Cloud Monitoring accepts no other condition duration."""

    @property
    def expected(self) -> str:
        return f"a whole number of minutes in seconds (0, 60, 300, ...) up to {self.high}"

    def parse(self, text: str) -> int:
        value = super().parse(text)
        if value % 60:
            raise Invalid(self.expected, str(value), "Cloud Monitoring takes no other duration")
        return value


BUCKET = Pattern(
    r"(?!goog)(?!.*\.\.)[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]",
    "a valid bucket name (3-63 characters: lowercase letters, digits, '-', '_', '.'; starting and "
    "ending with a letter or digit)",
)
VCPUS = Pattern(r"(?=.*[1-9])[0-9]*\.?[0-9]+", "a number of vCPUs above 0, such as 1 or 2")
MEMORY = Pattern(r"[0-9]+(\.[0-9]+)?(k|M|G|Mi|Gi)", "a size such as 512Mi or 1Gi")
SECONDS = Integer(0, 600)
DURATION = Minutes(0, MAX_ALERT_DURATION_SECONDS)
EMAILS = Listed(
    r"[^@\s,;\[\]\"']+@[^@\s,;\[\]\"']+\.[^@\s,;\[\]\"'.]+",
    "e-mail addresses such as oncall@example.com,sre@example.org",
)
CHANNELS = Listed(
    r"projects/[^/\s]+/notificationChannels/[^/\s]+",
    "channel resource names such as projects/my-project/notificationChannels/123",
)
URL = Pattern(r"https?://[^\s#]+", "an http(s) URL without a #fragment (each alert adds its own)")
# A user-managed service account (never a Google-managed default one: those carry broad roles).
SERVICE_ACCOUNT = Pattern(
    r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com",
    "a user-managed service account's e-mail, such as user-service@my-project.iam.gserviceaccount.com",
)
# What a browser sends as Origin: https, a host, maybe a port; no path (CORS compares exactly).
ORIGINS = Listed(
    r"https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?",
    "https origins (scheme and host, no path or trailing /) such as "
    "https://user-service-abc123-uc.a.run.app",
)


@dataclass(frozen=True)
class Key(Generic[T]):
    """One ai-service:* key: the values it accepts, its default as config holds it, its meaning."""

    name: str
    kind: Kind[T]
    default: str
    meaning: str
    feeds: Variable[Any] | None = None  # the function environment variable it sets
    derived: str = (
        ""  # what the default stands for, when the program derives it from other settings
    )
    optional: bool = False  # empty means unset (None), as for the optional variable it feeds

    @property
    def qualified(self) -> str:
        return f"{CONFIG_NAMESPACE}:{self.name}"

    def parse(self, text: str) -> T | None:
        if self.optional and not text.strip():
            return None
        try:
            return self.kind.parse(text)
        except Invalid as error:
            detail = f" ({error.detail})" if error.detail else ""
            raise SettingsError(
                f"{self.qualified} must be {error.expected}, got {error.shown}{detail}"
            ) from None


def fed(name: str, variable: Variable[Any], *, whole: bool = False) -> Key[Any]:
    """A key that sets a function environment variable: it accepts, defaults to and means what the
    function's own declaration says; `whole` keeps the whole numbers of its range (integer config)."""
    kind = variable.kind
    if whole:
        if not isinstance(kind, Number):
            raise TypeError(f"{variable.name} is not a number")
        kind = kind.whole()
    return Key(
        name,
        kind,
        variable.default or "",
        variable.meaning,
        feeds=variable,
        optional=variable.default is None,
    )


# --- The sections: one annotated field per key ------------------------------------------------------


@dataclass(frozen=True)
class Buckets:
    """The images bucket the User-Service writes and the bucket of the function's source archives."""

    images: Annotated[
        str,
        Key(
            "imagesBucketName",
            BUCKET,
            "",
            "Bucket the User-Service uploads images to and the function reads, in gcp:region.",
            feeds=function.BUCKET_NAME,
            derived="`<project>-ai-service-images`",
        ),
    ]
    source: Annotated[
        str,
        Key(
            "sourceBucketName",
            BUCKET,
            "",
            "Bucket holding the function's source archives.",
            derived="`<project>-ai-service-source`",
        ),
    ]
    retention_days: Annotated[
        int,
        Key(
            "imagesRetentionDays",
            Integer(DEAD_LETTER_RETENTION_DAYS + REDRIVE_MARGIN_DAYS, 3650),
            # A week beyond the dead-letter window: a redrive or a person's review that waits over a
            # weekend still finds the image (docs/security.md "Retention").
            "14",
            "Days after its upload when an image is deleted from the images bucket (a lifecycle "
            "rule, final: the bucket keeps no soft-deleted copies). The least value outlasts the "
            "dead-letter retention by a day, so a redriven message still finds its image.",
        ),
    ]
    force_destroy: Annotated[
        bool,
        Key(
            "forceDestroy",
            Boolean(),
            "false",
            "Let `pulumi destroy` delete both buckets even when they still hold objects.",
        ),
    ]

    def __post_init__(self) -> None:
        if self.images == self.source:
            raise SettingsError(
                f"{_key(Buckets, 'images')} and {_key(Buckets, 'source')} must differ, "
                f"both are {self.images!r}"
            )


@dataclass(frozen=True)
class Labeling:
    """How the function labels and decides: each key sets one of its environment variables."""

    target_labels: Annotated[tuple[str, ...], fed("targetLabels", function.TARGET_LABELS)]
    min_score: Annotated[float, fed("minScore", function.MIN_SCORE)]
    review_min_score: Annotated[float | None, fed("reviewMinScore", function.REVIEW_MIN_SCORE)]
    max_labels: Annotated[int, fed("maxLabels", function.MAX_LABELS)]
    vision_features: Annotated[tuple[Feature, ...], fed("visionFeatures", function.VISION_FEATURES)]
    vision_timeout_seconds: Annotated[
        int, fed("visionTimeoutSeconds", function.VISION_TIMEOUT_SECONDS, whole=True)
    ]
    publish_timeout_seconds: Annotated[
        int, fed("publishTimeoutSeconds", function.PUBLISH_TIMEOUT_SECONDS, whole=True)
    ]

    def __post_init__(self) -> None:
        review = self.review_min_score
        if review is not None and review >= self.min_score:
            raise SettingsError(
                f"{_key(Labeling, 'review_min_score')} must be a number from 0 to below "
                f"{_key(Labeling, 'min_score')} ({self.min_score:g}), or the review band "
                f"[reviewMinScore, minScore) is empty; got {review:g}"
            )


@dataclass(frozen=True)
class Capacity:
    """How the function runs and scales (its service_config)."""

    timeout_seconds: Annotated[
        int,
        Key(
            "functionTimeoutSeconds",
            Integer(1, MAX_FUNCTION_TIMEOUT_SECONDS),
            "60",
            "Function timeout; must exceed visionTimeoutSeconds + publishTimeoutSeconds.",
        ),
    ]
    concurrency: Annotated[
        int,
        Key(
            "functionConcurrency",
            Integer(1, 1000),
            "80",
            "Concurrent requests per instance (max_instance_request_concurrency), also the "
            "server's THREADS; more than one at a time needs a whole vCPU (functionCpu).",
        ),
    ]
    cpu: Annotated[str, Key("functionCpu", VCPUS, "1", "vCPUs per instance (available_cpu).")]
    memory: Annotated[
        str, Key("functionMemory", MEMORY, "512Mi", "Memory per instance (available_memory).")
    ]
    min_instances: Annotated[
        int,
        Key(
            "minInstances",
            Integer(0, 1000),
            "0",
            "Instances kept warm (none: scale to zero); at most maxInstances.",
        ),
    ]
    max_instances: Annotated[
        int,
        Key(
            "maxInstances",
            Integer(1, 1000),
            "10",
            "Upper bound on instances, which also caps Vision spend and quota use.",
        ),
    ]

    def __post_init__(self) -> None:
        if self.concurrency > 1 and float(self.cpu) < 1:
            raise SettingsError(
                f"{_key(Capacity, 'cpu')} must be at least 1 when "
                f"{_key(Capacity, 'concurrency')} > 1 (Cloud Run rejects concurrency above 1 "
                f"with less than 1 vCPU), got {self.cpu} with concurrency {self.concurrency}"
            )
        if self.min_instances > self.max_instances:
            raise SettingsError(
                f"{_key(Capacity, 'min_instances')} ({self.min_instances}) must not exceed "
                f"{_key(Capacity, 'max_instances')} ({self.max_instances})"
            )


@dataclass(frozen=True)
class Delivery:
    """The push subscription's redelivery: attempts, backoff, ack deadline."""

    max_attempts: Annotated[
        int,
        Key(
            "maxDeliveryAttempts",
            Integer(5, 100),
            # A burst of 10x the Vision quota for 10 minutes dead-letters nothing (docs/overload.md).
            "30",
            "Deliveries of a message before it goes to the dead-letter topic. The default outlasts "
            "a burst of 10x the Vision quota for 10 minutes and still dead-letters a message that "
            "can never succeed within hours (docs/overload.md).",
        ),
    ]
    minimum_backoff_seconds: Annotated[
        int,
        Key(
            "minimumBackoffSeconds",
            Integer(0, MAX_BACKOFF_SECONDS),
            "10",
            "Push retry backoff after the first failure.",
        ),
    ]
    maximum_backoff_seconds: Annotated[
        int,
        Key(
            "maximumBackoffSeconds",
            Integer(0, MAX_BACKOFF_SECONDS),
            "600",
            "Longest push retry backoff.",
        ),
    ]
    ack_deadline_seconds: Annotated[
        int,
        Key(
            "ackDeadlineSeconds",
            Integer(10, MAX_ACK_DEADLINE_SECONDS),
            "0",
            "Push subscription ack deadline; never below the function timeout.",
            derived="the function timeout (at least 10)",
        ),
    ]

    def __post_init__(self) -> None:
        if self.minimum_backoff_seconds > self.maximum_backoff_seconds:
            raise SettingsError(
                f"{_key(Delivery, 'minimum_backoff_seconds')} ({self.minimum_backoff_seconds}) "
                f"must not exceed {_key(Delivery, 'maximum_backoff_seconds')} "
                f"({self.maximum_backoff_seconds})"
            )


@dataclass(frozen=True)
class Propagation:
    """Waits on the first deploy only, for what Google applies asynchronously."""

    api_seconds: Annotated[
        int,
        Key(
            "apiPropagationSeconds",
            SECONDS,
            "60",
            "Wait after enabling the APIs, before using them.",
        ),
    ]
    iam_seconds: Annotated[
        int,
        Key(
            "iamPropagationSeconds",
            SECONDS,
            # IAM: "typically 2 minutes, potentially 7 minutes or longer" (cloud.google.com/iam/
            # docs/access-change-propagation); 60 s failed about half the builds of TPG's own
            # builder sample (terraform-provider-google #20571).
            "120",
            "Wait after the IAM grants: after the build and runtime grants before the build, and "
            "after the push grants before the push subscription. IAM changes typically take 2 "
            "minutes, sometimes 7 or more; raise it if a first build is denied the source.",
        ),
    ]
    metric_seconds: Annotated[
        int,
        Key(
            "metricPropagationSeconds",
            Integer(0, 900),
            # An alert policy naming a new log-based metric is refused with 404 "Cannot find
            # metric(s) ... could take up to 10 minutes" (TPG #11102).
            "180",
            "Wait between creating the log-based metrics and creating the alert policy that "
            "reads one; Cloud Monitoring can take up to 10 minutes to know a new metric.",
        ),
    ]


@dataclass(frozen=True)
class Alerting:
    """Where the alert policies send notifications, and when they fire (infra/monitoring/)."""

    emails: Annotated[
        tuple[str, ...],
        Key(
            "alertEmails",
            EMAILS,
            "",
            "E-mail addresses that get every alert, one notification channel each. Empty: the "
            "alert policies exist but notify nobody.",
        ),
    ]
    notification_channels: Annotated[
        tuple[str, ...],
        Key(
            "alertNotificationChannels",
            CHANNELS,
            "",
            "Existing notification channels (Slack, PagerDuty, ... made in the console) that also "
            "get every alert.",
        ),
    ]
    dead_letter_duration_seconds: Annotated[
        int,
        Key(
            "alertDeadLetterDurationSeconds",
            DURATION,
            "300",
            "How long the dead-letter subscription must hold messages before its alert fires.",
        ),
    ]
    backlog_age_seconds: Annotated[
        int,
        Key(
            "alertBacklogAgeSeconds",
            Integer(60, 604800),
            "600",
            "Age of the push subscription's oldest unacked message that counts as a backlog.",
        ),
    ]
    backlog_duration_seconds: Annotated[
        int,
        Key(
            "alertBacklogDurationSeconds",
            DURATION,
            "300",
            "How long the backlog must stay that old before its alert fires.",
        ),
    ]
    retry_ratio: Annotated[
        float,
        Key(
            "alertRetryRatio",
            Number(0, 1, above_low=True),
            "0.1",
            'Share of events ending in "retry" (Vision or Pub/Sub trouble, quota exhausted) above '
            "which the retry alert fires.",
        ),
    ]
    retry_duration_seconds: Annotated[
        int,
        Key(
            "alertRetryDurationSeconds",
            DURATION,
            "600",
            "How long the retry share must stay above alertRetryRatio before its alert fires.",
        ),
    ]
    server_errors_per_minute: Annotated[
        float,
        Key(
            "alertServerErrorsPerMinute",
            Number(0, above_low=True),
            "6",
            "Rate of the function's 5xx answers per minute above which the 5xx alert fires.",
        ),
    ]
    server_error_duration_seconds: Annotated[
        int,
        Key(
            "alertServerErrorDurationSeconds",
            DURATION,
            "600",
            "How long the 5xx rate must stay above alertServerErrorsPerMinute before its alert "
            "fires.",
        ),
    ]
    runbook_url: Annotated[
        str,
        Key(
            "runbookUrl",
            URL,
            "https://github.com/bike-sharing/ai-service/blob/main/docs/runbook.md",
            "The runbook every alert links to, each at its own section (`<runbookUrl>#<anchor>`).",
        ),
    ]


@dataclass(frozen=True)
class UserService:
    """The User-Service's side of the contract (docs/user-service.md): who it is, where its screen is."""

    account: Annotated[
        str | None,
        Key(
            "userServiceAccount",
            SERVICE_ACCOUNT,
            "",
            "The User-Service's runtime account (its stack's output runtimeServiceAccountEmail). "
            "It may publish to user-service-new-image, create, read and delete objects under "
            f"{USER_UPLOADS_PREFIX} in the images bucket, and pull the results subscription "
            f"{RESULTS_SUBSCRIPTION}; nothing else, nothing project-wide. Empty: nobody but this "
            "stack's own accounts holds a grant on those resources.",
            optional=True,
        ),
    ]
    origins: Annotated[
        tuple[str, ...],
        Key(
            "userServiceOrigins",
            ORIGINS,
            "",
            "Where the User-Service's upload screen is served (its stack's output serviceUrl, and "
            "any domain of its own): the images bucket's CORS rule lets browsers there PUT a "
            "photo with a signed URL. Needs userServiceAccount (the URLs are signed by it).",
        ),
    ]

    def __post_init__(self) -> None:
        if self.origins and self.account is None:
            raise SettingsError(
                f"{_key(UserService, 'origins')} is set but {_key(UserService, 'account')} is "
                "not: browsers there could upload only with URLs signed by an account that holds "
                "no grant on the bucket; set both (docs/user-service.md)"
            )


SECTIONS = (Buckets, Labeling, Capacity, Delivery, Propagation, Alerting, UserService)


def _declared_keys(section: type) -> dict[str, Key[Any]]:
    hints = get_type_hints(section, include_extras=True)
    return {
        field.name: key
        for field in fields(section)
        for key in get_args(hints[field.name])[1:]
        if isinstance(key, Key)
    }


_SECTION_KEYS: dict[type, dict[str, Key[Any]]] = {
    section: _declared_keys(section) for section in SECTIONS
}


def keys_of(section: type) -> dict[str, Key[Any]]:
    """A section's keys by field name, in declaration order."""
    return _SECTION_KEYS[section]


def _key(section: type, field: str) -> str:
    return keys_of(section)[field].qualified


KEYS: tuple[Key[Any], ...] = tuple(key for section in SECTIONS for key in keys_of(section).values())
# Every ai-service:* key the program reads, and its default as config holds it.
CONFIG_KEYS = tuple(key.name for key in KEYS)
DEFAULTS: Mapping[str, str] = {key.name: key.default for key in KEYS}

# Only what is surely not a project id; Google's own rules (6-30 characters, ...) are left to the
# API, which reports a wrong id clearly enough.
_NOT_A_PROJECT_ID = re.compile(r"[\sA-Z/]")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_LABEL_VALUE = re.compile(r"[^a-z0-9_-]")


def label_value(text: str) -> str:
    """A string turned into a valid label value (lowercase, [a-z0-9_-], at most 63 chars)."""
    return _LABEL_VALUE.sub("-", text.lower())[:63]


@dataclass(frozen=True)
class Settings:
    """Everything the program needs, typed and validated."""

    project: str
    region: str
    stack: str
    buckets: Buckets
    labeling: Labeling
    capacity: Capacity
    delivery: Delivery
    propagation: Propagation
    alerting: Alerting
    user_service: UserService

    def __post_init__(self) -> None:
        account = self.user_service.account
        own = {f"{name}@{self.project}.iam.gserviceaccount.com" for name in OWN_ACCOUNT_IDS}
        if account in own:
            raise SettingsError(
                f"{_key(UserService, 'account')} is {account}, one of this stack's own accounts; "
                "it must name the User-Service's (the function must never announce images, nor "
                "the User-Service publish verdicts)"
            )
        labeling, timeout = self.labeling, self.capacity.timeout_seconds
        if labeling.vision_timeout_seconds + labeling.publish_timeout_seconds >= timeout:
            raise SettingsError(
                f"{_key(Labeling, 'vision_timeout_seconds')} + "
                f"{_key(Labeling, 'publish_timeout_seconds')} ({labeling.vision_timeout_seconds} "
                f"+ {labeling.publish_timeout_seconds}) must be less than "
                f"{_key(Capacity, 'timeout_seconds')} ({timeout}), or the function is killed "
                "before it can publish"
            )
        if self.delivery.ack_deadline_seconds < timeout:
            raise SettingsError(
                f"{_key(Delivery, 'ack_deadline_seconds')} ({self.delivery.ack_deadline_seconds}) "
                f"must be at least {_key(Capacity, 'timeout_seconds')} ({timeout}), or Pub/Sub "
                "redelivers messages the function is still processing"
            )

    @property
    def sections(self) -> tuple[Any, ...]:
        return (
            self.buckets,
            self.labeling,
            self.capacity,
            self.delivery,
            self.propagation,
            self.alerting,
            self.user_service,
        )

    @property
    def labels(self) -> dict[str, str]:
        """The labels every resource that takes labels carries."""
        return {"app": "ai-service", "environment": label_value(self.stack), "managed-by": "pulumi"}

    def function_environment(self) -> dict[str, str]:
        """The environment the function reads (labeling.config), as the stack deploys it."""
        environment = {
            function.PROJECT_ID.name: self.project,
            function.TOPIC_ID.name: LABELED_TOPIC,
        }
        for section in self.sections:
            for field, key in keys_of(type(section)).items():
                value = getattr(section, field)
                if key.feeds is not None and value is not None:
                    environment[key.feeds.name] = key.kind.format(value)
        # functions-framework sizes gunicorn's gthread pool from THREADS; it must equal the
        # per-instance concurrency or Cloud Run routes requests that then queue inside.
        environment["THREADS"] = str(self.capacity.concurrency)
        return environment


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
    region = region or DEFAULT_REGION
    if not _REGION.match(region):
        raise SettingsError(f"gcp:region must be a region such as us-central1, got {region!r}")
    return project, region


def _read(section: type[S], values: Mapping[str, str | None], **derived: str) -> S:
    """A section from raw config text: '' counts as unset; an unset derived key takes `derived`."""
    parsed: dict[str, Any] = {}
    for field, key in keys_of(section).items():
        text = values.get(key.name) or ""
        if not text or (key.derived and text.strip() == key.default):
            text = derived.get(field, key.default)
        parsed[field] = key.parse(text)
    return section(**parsed)


def load_settings(
    project: str | None,
    region: str | None,
    values: Mapping[str, str | None],
    *,
    stack: str = "dev",
    secret_keys: Iterable[str] = (),
) -> Settings:
    """Validates raw config strings (`values`, keyed by ai-service:* key) into Settings.

    `secret_keys` are the config keys set with --secret: the stack holds none, because every
    pull request's preview can open the stack (docs/security.md "Previews and the stack's secrets").
    """
    secret = sorted(secret_keys)
    if secret:
        raise SettingsError(
            f"{', '.join(secret)} set as secret: this stack holds no secrets, since pull request "
            "previews can decrypt its config (docs/security.md); keep a secret in Secret Manager, "
            "read at run time by the account that needs it"
        )
    project, region = _identity(project, region)
    unknown = sorted(set(values) - set(CONFIG_KEYS))
    if unknown:
        raise SettingsError(f"unknown config keys {unknown}; expected some of {list(CONFIG_KEYS)}")
    capacity = _read(Capacity, values)
    return Settings(
        project=project,
        region=region,
        stack=stack,
        buckets=_read(
            Buckets,
            values,
            images=f"{project}-ai-service-images",
            source=f"{project}-ai-service-source",
        ),
        labeling=_read(Labeling, values),
        capacity=capacity,
        # Pub/Sub's minimum ack deadline is 10 s.
        delivery=_read(
            Delivery, values, ack_deadline_seconds=str(max(capacity.timeout_seconds, 10))
        ),
        propagation=_read(Propagation, values),
        alerting=_read(Alerting, values),
        user_service=_read(UserService, values),
    )
