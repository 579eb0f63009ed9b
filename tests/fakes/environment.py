"""The function's environment variables, and the environment infra/ deploys pointed at the wire fakes."""

from __future__ import annotations

# Every variable the function reads (function/labeling/config.py); tests clear them all, so no test
# sees another's settings or a real endpoint. Folders that read more add their own names.
FUNCTION_ENV_NAMES = (
    "PROJECT_ID",
    "TOPIC_ID",
    "BUCKET_NAME",
    "TARGET_LABELS",
    "MIN_SCORE",
    "REVIEW_MIN_SCORE",
    "MAX_LABELS",
    "VISION_FEATURES",
    "VISION_TIMEOUT_SECONDS",
    "PUBLISH_TIMEOUT_SECONDS",
    "VISION_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
)

PROJECT = "test-project"
TOPIC = "ai-service-image-labeled"
BUCKET = "test-images"


def function_environment(vision_host: str, pubsub_host: str, **overrides: str) -> dict[str, str]:
    """The environment infra/ deploys, pointed at the fakes; `overrides` add or change variables."""
    return {
        "PROJECT_ID": PROJECT,
        "TOPIC_ID": TOPIC,
        "BUCKET_NAME": BUCKET,
        "VISION_EMULATOR_HOST": vision_host,
        "PUBSUB_EMULATOR_HOST": pubsub_host,
        "VISION_TIMEOUT_SECONDS": "5",
        "PUBLISH_TIMEOUT_SECONDS": "5",
        **overrides,
    }
