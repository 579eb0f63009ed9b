"""Settings from the environment, read and validated once when an instance starts.

Every variable is declared once below: what it accepts, the text an unset one stands for, what it means.
The stack (infra/settings.py) validates the keys that feed these variables with the same declarations,
and docs/configuration.md is generated from them. Every problem raises `ConfigError` naming the variable
and what was expected: a misconfigured revision fails to start (and so fails its deploy) instead of
publishing somewhere else or dropping messages.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from labeling.errors import ConfigError

T = TypeVar("T")

# How long a call retries transient errors before giving up, within its timeout: long enough to ride
# out a blip, short enough that lasting trouble becomes a quick 5xx and Pub/Sub's backoff takes over.
IN_CALL_RETRY_SECONDS = 2.0
# Event-driven functions time out after at most 540 s; a budget beyond that could never be used.
MAX_TIMEOUT_SECONDS = 540
# Vision takes any max_results, but a result carries at most 100 labels and 100 objects
# (contracts/image-labeled.schema.json, maxItems): more would publish results that break the contract.
MAX_LABELS_LIMIT = 100


class Feature(Enum):
    """The Vision features this service knows how to read and decide on."""

    LABEL_DETECTION = "LABEL_DETECTION"
    OBJECT_LOCALIZATION = "OBJECT_LOCALIZATION"
    SAFE_SEARCH_DETECTION = "SAFE_SEARCH_DETECTION"


class Invalid(ValueError):
    """A value a kind refuses: `expected` says what would do, `shown` is the value as reported."""

    def __init__(self, expected: str, shown: str, detail: str = "") -> None:
        super().__init__(f"expected {expected}, got {shown}")
        self.expected = expected
        self.shown = shown
        self.detail = detail


class Kind(ABC, Generic[T]):
    """What a setting accepts: parses its text, formats a value back into such text."""

    @property
    @abstractmethod
    def expected(self) -> str:
        """What the setting accepts, as an error message says it ("an integer from 1 to 100")."""

    @abstractmethod
    def parse(self, text: str) -> T: ...

    def format(self, value: T) -> str:
        return str(value)


@dataclass(frozen=True)
class Integer(Kind[int]):
    low: int
    high: int

    @property
    def expected(self) -> str:
        return f"an integer from {self.low} to {self.high}"

    def parse(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise Invalid(self.expected, repr(text)) from None
        if not self.low <= value <= self.high:
            raise Invalid(self.expected, str(value))
        return value


@dataclass(frozen=True)
class Number(Kind[float]):
    """A finite number from `low` (above it, with `above_low`) up to `high`."""

    low: float
    high: float = math.inf
    above_low: bool = False

    @property
    def expected(self) -> str:
        if self.high == math.inf:
            return f"a number {'above' if self.above_low else 'of at least'} {self.low:g}"
        if self.above_low:
            return f"a number above {self.low:g} and at most {self.high:g}"
        return f"a number from {self.low:g} to {self.high:g}"

    def parse(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise Invalid(self.expected, repr(text)) from None
        above = value > self.low if self.above_low else value >= self.low
        if not (math.isfinite(value) and above and value <= self.high):
            raise Invalid(self.expected, f"{value:g}")
        return value

    def format(self, value: float) -> str:
        # As short as it can be without losing a digit: 0.5, 20, 0.123456789.
        short = f"{value:g}"
        return short if float(short) == value else repr(value)

    def whole(self) -> Integer:
        """The whole numbers of this range, for configuration that takes integers only."""
        low = math.floor(self.low) + 1 if self.above_low else math.ceil(self.low)
        return Integer(low, math.floor(self.high))


class CommaSeparated(Kind[tuple[str, ...]]):
    """A comma-separated list (the stack's lists are too: infra/settings.py)."""

    @staticmethod
    def items(text: str) -> tuple[str, ...]:
        """The non-blank items, blanks around them stripped; duplicates dropped, order kept."""
        return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))

    def format(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


@dataclass(frozen=True)
class Names(CommaSeparated):
    """A non-empty comma-separated list of names."""

    example: str

    @property
    def expected(self) -> str:
        return f"a non-empty comma-separated list of names such as {self.example}"

    def parse(self, text: str) -> tuple[str, ...]:
        names = self.items(text)
        if not names:
            raise Invalid(self.expected, repr(text))
        return names


class Features(Kind[tuple[Feature, ...]]):
    """A comma-separated subset of the known features, in any case; duplicates dropped."""

    @property
    def expected(self) -> str:
        return f"a comma-separated subset of {', '.join(feature.value for feature in Feature)}"

    def parse(self, text: str) -> tuple[Feature, ...]:
        names = CommaSeparated.items(text.upper())
        unknown = [name for name in names if name not in Feature.__members__]
        if unknown or not names:
            raise Invalid(self.expected, repr(text), f"unknown: {', '.join(unknown)}")
        return tuple(Feature[name] for name in names)

    def format(self, value: tuple[Feature, ...]) -> str:
        return ",".join(feature.value for feature in value)


@dataclass(frozen=True)
class Name(Kind[str]):
    """A resource name, not a path: Google's own naming rules are left to Google (emulators accept
    more), but a value that is a path or URI would silently address something else."""

    description: str

    @property
    def expected(self) -> str:
        return self.description

    def parse(self, text: str) -> str:
        value = text.strip()
        if not re.fullmatch(r"[^/\s]+", value):
            raise Invalid(self.expected, repr(text))
        return value


@dataclass(frozen=True)
class Text(Kind[str]):
    """Any text (surrounding blanks stripped)."""

    description: str

    @property
    def expected(self) -> str:
        return self.description

    def parse(self, text: str) -> str:
        return text.strip()


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One environment variable: what it accepts, the text an unset one stands for, its meaning."""

    name: str
    kind: Kind[T]
    default: str | None  # None: no default; the variable is required, or its feature off when unset
    meaning: str
    required: bool = False

    @property
    def value(self) -> T:
        """The default, parsed."""
        if self.default is None:
            raise ValueError(f"{self.name} has no default")
        return self.kind.parse(self.default)

    def read(self, env: Mapping[str, str]) -> T | None:
        """The variable's value, its default when unset or empty, or None without a default."""
        raw = env.get(self.name, "").strip()
        text = raw or self.default
        if text is None:
            return None
        try:
            return self.kind.parse(text)
        except Invalid as error:
            detail = f"{error.detail}; " if error.detail else ""
            raise ConfigError(
                f"{self.name}={raw!r} is not valid: {detail}expected {error.expected}"
            ) from None


PROJECT_ID = Variable(
    "PROJECT_ID",
    Name("a project id, not a path"),
    None,
    "Project of the result topic.",
    required=True,
)
TOPIC_ID = Variable(
    "TOPIC_ID",
    Name("a topic id such as ai-service-image-labeled, not a path"),
    None,
    "Result topic id: results go to projects/PROJECT_ID/topics/TOPIC_ID.",
    required=True,
)
BUCKET_NAME = Variable(
    "BUCKET_NAME",
    Name("a bucket name such as my-images, without gs://"),
    None,
    "The images bucket: the only bucket the function labels images from.",
    required=True,
)
TARGET_LABELS = Variable(
    "TARGET_LABELS",
    Names("Bicycle"),
    "Bicycle",
    "Comma-separated labels that make an image match, case-insensitively.",
)
MIN_SCORE = Variable(
    "MIN_SCORE", Number(0, 1), "0.5", "The least score a target label needs to match."
)
REVIEW_MIN_SCORE = Variable(
    "REVIEW_MIN_SCORE",
    Number(0, 1),
    None,
    "Turns on the review band: a target scoring from this up to below the minimum score gets "
    'decision "review" instead of "reject"; must be below the minimum score. Unset: no band, and '
    "results carry no decision.",
)
MAX_LABELS = Variable(
    "MAX_LABELS",
    Integer(1, MAX_LABELS_LIMIT),
    "10",
    "Labels (and objects) asked of Vision and reported per image; the largest value is the limit "
    "of the result contract.",
)
VISION_FEATURES = Variable(
    "VISION_FEATURES",
    Features(),
    "LABEL_DETECTION",
    "Vision features requested for each image, all in the same call.",
)
VISION_TIMEOUT_SECONDS = Variable(
    "VISION_TIMEOUT_SECONDS",
    Number(0, MAX_TIMEOUT_SECONDS, above_low=True),
    "20",
    f"Deadline of the Vision call in seconds, retries included: transient errors are retried for "
    f"up to {IN_CALL_RETRY_SECONDS:g} s of it; longer trouble becomes an HTTP 500 and Pub/Sub's "
    "backoff takes over.",
)
PUBLISH_TIMEOUT_SECONDS = Variable(
    "PUBLISH_TIMEOUT_SECONDS",
    Number(0, MAX_TIMEOUT_SECONDS, above_low=True),
    "10",
    "How long, in seconds, the function waits for Pub/Sub to accept a result (same retry rule).",
)
VISION_EMULATOR_HOST = Variable(
    "VISION_EMULATOR_HOST",
    Text("host:port"),
    None,
    "An insecure local Vision endpoint, used with anonymous credentials (tests, local runs).",
)
PUBSUB_EMULATOR_HOST = Variable(
    "PUBSUB_EMULATOR_HOST",
    Text("host:port"),
    None,
    "The Pub/Sub emulator, as the Google client libraries read it.",
)
# Every variable declared above, in order (docs/configuration.md's environment table follows it).
VARIABLES: tuple[Variable[Any], ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Variable)
)

# The defaults some callers name directly.
DEFAULT_TARGET_LABELS = TARGET_LABELS.default
DEFAULT_MIN_SCORE = MIN_SCORE.value


@dataclass(frozen=True)
class Settings:
    """The function's settings: each field is its variable's name in lowercase (from_env fills them
    from VARIABLES by that name), defaulting as the variable does."""

    project_id: str
    topic_id: str
    bucket_name: str
    target_labels: tuple[str, ...] = TARGET_LABELS.value
    min_score: float = MIN_SCORE.value
    # The review band [review_min_score, min_score): None (unset) means no band, accept or reject only.
    review_min_score: float | None = None
    max_labels: int = MAX_LABELS.value
    vision_features: tuple[Feature, ...] = VISION_FEATURES.value
    vision_timeout_seconds: float = VISION_TIMEOUT_SECONDS.value
    publish_timeout_seconds: float = PUBLISH_TIMEOUT_SECONDS.value
    vision_emulator_host: str | None = None
    pubsub_emulator_host: str | None = None

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project_id}/topics/{self.topic_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [
            variable.name
            for variable in VARIABLES
            if variable.required and not env.get(variable.name, "").strip()
        ]
        if missing:
            raise ConfigError(
                f"missing required environment variable(s): {', '.join(missing)} "
                "(the function needs PROJECT_ID, TOPIC_ID and BUCKET_NAME to know where to read "
                "images and where to publish results)"
            )
        values: dict[str, Any] = {
            variable.name.lower(): variable.read(env) for variable in VARIABLES
        }
        # Optional; below MIN_SCORE, or the band [REVIEW_MIN_SCORE, MIN_SCORE) would be empty.
        review, min_score = values["review_min_score"], values["min_score"]
        if review is not None and not review < min_score:
            raise ConfigError(
                f"REVIEW_MIN_SCORE={env['REVIEW_MIN_SCORE'].strip()!r} is not valid: expected a "
                f"number from 0 to below MIN_SCORE ({min_score:g})"
            )
        return cls(**values)
