"""Settings from the environment, read and validated once when an instance starts.

Every problem raises `ConfigError` naming the variable and what was expected: a misconfigured revision
fails to start (and so fails its deploy) instead of publishing somewhere else or dropping messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from labeling.errors import ConfigError

REQUIRED = ("PROJECT_ID", "TOPIC_ID", "BUCKET_NAME")

DEFAULT_TARGET_LABELS = "Bicycle"
DEFAULT_MIN_SCORE = 0.5
DEFAULT_MAX_LABELS = 10
DEFAULT_VISION_FEATURES = "LABEL_DETECTION"
DEFAULT_VISION_TIMEOUT_SECONDS = 20.0
DEFAULT_PUBLISH_TIMEOUT_SECONDS = 10.0
# How long a call retries transient errors before giving up, within its timeout: long enough to ride
# out a blip, short enough that lasting trouble becomes a quick 5xx and Pub/Sub's backoff takes over.
IN_CALL_RETRY_SECONDS = 2.0
MAX_LABELS_LIMIT = 1000
# Event-driven functions time out after at most 540 s; a budget beyond that could never be used.
MAX_TIMEOUT_SECONDS = 540.0

# Names, not paths: Google's own naming rules are left to Google (emulators accept more), but a value that
# is a path or URI would silently address something else, so it is refused.
_NAME = re.compile(r"[^/\s]+")


class Feature(Enum):
    """The Vision features this service knows how to read and decide on."""

    LABEL_DETECTION = "LABEL_DETECTION"
    OBJECT_LOCALIZATION = "OBJECT_LOCALIZATION"
    SAFE_SEARCH_DETECTION = "SAFE_SEARCH_DETECTION"


@dataclass(frozen=True)
class Settings:
    project_id: str
    topic_id: str
    bucket_name: str
    target_labels: tuple[str, ...] = (DEFAULT_TARGET_LABELS,)
    min_score: float = DEFAULT_MIN_SCORE
    # The review band [review_min_score, min_score): None (unset) means no band, accept or reject only.
    review_min_score: float | None = None
    max_labels: int = DEFAULT_MAX_LABELS
    features: tuple[Feature, ...] = (Feature.LABEL_DETECTION,)
    vision_timeout_seconds: float = DEFAULT_VISION_TIMEOUT_SECONDS
    publish_timeout_seconds: float = DEFAULT_PUBLISH_TIMEOUT_SECONDS
    vision_emulator_host: str | None = None
    pubsub_emulator_host: str | None = None

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project_id}/topics/{self.topic_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in REQUIRED if not env.get(name, "").strip()]
        if missing:
            raise ConfigError(
                f"missing required environment variable(s): {', '.join(missing)} "
                "(the function needs PROJECT_ID, TOPIC_ID and BUCKET_NAME to know where to read "
                "images and where to publish results)"
            )
        project_id = _name(env, "PROJECT_ID", "a project id, not a path")
        topic_id = _name(env, "TOPIC_ID", "a topic id such as ai-service-image-labeled, not a path")
        bucket_name = _name(env, "BUCKET_NAME", "a bucket name such as my-images, without gs://")
        min_score = _number(env, "MIN_SCORE", DEFAULT_MIN_SCORE, 0.0, 1.0)
        return cls(
            project_id=project_id,
            topic_id=topic_id,
            bucket_name=bucket_name,
            target_labels=_target_labels(env),
            min_score=min_score,
            review_min_score=_review_min_score(env, min_score),
            max_labels=_integer(env, "MAX_LABELS", DEFAULT_MAX_LABELS, 1, MAX_LABELS_LIMIT),
            features=_features(env),
            vision_timeout_seconds=_positive_seconds(
                env, "VISION_TIMEOUT_SECONDS", DEFAULT_VISION_TIMEOUT_SECONDS
            ),
            publish_timeout_seconds=_positive_seconds(
                env, "PUBLISH_TIMEOUT_SECONDS", DEFAULT_PUBLISH_TIMEOUT_SECONDS
            ),
            vision_emulator_host=env.get("VISION_EMULATOR_HOST", "").strip() or None,
            pubsub_emulator_host=env.get("PUBSUB_EMULATOR_HOST", "").strip() or None,
        )


def _name(env: Mapping[str, str], name: str, expected: str) -> str:
    value = env[name].strip()
    if not _NAME.fullmatch(value):
        raise ConfigError(f"{name}={value!r} is not valid: expected {expected}")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _float(
        env, name, default, lambda value: low <= value <= high, f"a number from {low} to {high}"
    )


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return _float(
        env,
        name,
        default,
        lambda value: 0 < value <= MAX_TIMEOUT_SECONDS,
        f"seconds, more than 0 and at most {MAX_TIMEOUT_SECONDS:g}",
    )


def _float(
    env: Mapping[str, str],
    name: str,
    default: float,
    valid: Callable[[float], bool],
    expected: str,
) -> float:
    raw = _optional(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan  # fails every range check below, NaN from the environment too
    if not valid(value):
        raise ConfigError(f"{name}={raw!r} is not valid: expected {expected}")
    return value


def _review_min_score(env: Mapping[str, str], min_score: float) -> float | None:
    """Optional; below MIN_SCORE, or the band [REVIEW_MIN_SCORE, MIN_SCORE) would be empty."""
    if _optional(env, "REVIEW_MIN_SCORE") is None:
        return None
    return _float(
        env,
        "REVIEW_MIN_SCORE",
        0.0,
        lambda value: 0.0 <= value < min_score,
        f"a number from 0 to below MIN_SCORE ({min_score:g})",
    )


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _optional(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is not valid: expected an integer from {low} to {high}")
    return value


def _target_labels(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("TARGET_LABELS", "").strip() or DEFAULT_TARGET_LABELS
    labels = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not labels:
        raise ConfigError(
            f"TARGET_LABELS={raw!r} is not valid: expected comma-separated label names, "
            "such as Bicycle"
        )
    return labels


def _features(env: Mapping[str, str]) -> tuple[Feature, ...]:
    raw = env.get("VISION_FEATURES", "").strip() or DEFAULT_VISION_FEATURES
    names = [part.strip().upper() for part in raw.split(",") if part.strip()]
    known = {feature.value: feature for feature in Feature}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ConfigError(
            f"VISION_FEATURES={raw!r} is not valid: unknown feature(s) {', '.join(unknown)}; "
            f"expected a comma-separated subset of {', '.join(known)}"
        )
    return tuple(dict.fromkeys(known[name] for name in names))
