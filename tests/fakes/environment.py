"""The function's environment variables, and the environment infra/ deploys pointed at the wire fakes."""

from __future__ import annotations

from ops.function_server import FUNCTION_VARIABLES

# Every variable the function reads: tests clear them all, so no test sees another's settings or a
# real endpoint. Folders that read more add their own names.
FUNCTION_ENV_NAMES = FUNCTION_VARIABLES

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
