"""The function's environment exactly as infra/ deploys it, pointed at the benchmark's wire fakes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.settings import load_settings  # infra/settings.py: pure, no Pulumi imports

BENCH_PROJECT = "bench-project"
BENCH_REGION = "us-central1"
_MEMORY_UNITS = {"k": 1000, "M": 1000**2, "G": 1000**3, "Mi": 1024**2, "Gi": 1024**3}


@dataclass(frozen=True)
class Deployment:
    """What the stack's default configuration gives one instance."""

    environment: dict[str, str]  # the function's variables, THREADS included
    concurrency: int  # max_instance_request_concurrency
    cpu: float  # vCPUs
    memory_bytes: int
    memory_text: str
    topic_path: str
    bucket: str


def deployment() -> Deployment:
    """The stack's defaults (`ai-service:*` config unset), read from the infra code, not copied."""
    settings = load_settings(BENCH_PROJECT, BENCH_REGION, {}, stack="bench")
    environment = settings.function_environment()
    return Deployment(
        environment=environment,
        concurrency=settings.capacity.concurrency,
        cpu=float(settings.capacity.cpu),
        memory_bytes=memory_bytes(settings.capacity.memory),
        memory_text=settings.capacity.memory,
        topic_path=f"projects/{environment['PROJECT_ID']}/topics/{environment['TOPIC_ID']}",
        bucket=environment["BUCKET_NAME"],
    )


def memory_bytes(text: str) -> int:
    """Kubernetes-style quantity (512Mi, 1Gi, 512M) to bytes."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(k|M|G|Mi|Gi)", text.strip())
    if not match:
        raise ValueError(f"not a memory size: {text!r}")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)])
