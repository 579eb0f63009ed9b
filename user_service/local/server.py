"""The User-Service as a local process on the emulators: functions-framework with the deployed target.

    environment = local_environment(project, bucket, firestore_host, pubsub_host, storage_url)
    with UserServiceServer(environment) as service:
        service.url                      # the upload screen
        service.push_endpoint            # where the local push subscription delivers results

The deployed service reads the same variables (user_uploads.config), set by the stack, except the two
local-only ones: LOCAL_PUSH_TOKEN (the Pub/Sub emulator sends no OIDC token) and the emulator hosts.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from ops.processes import ChildProcess, accepts, free_port

SOURCE = Path(__file__).resolve().parents[1] / "function" / "main.py"
TARGET = "handle_request"
NEW_IMAGE_TOPIC = "user-service-new-image"  # the contract's name (AI stack output newImageTopic)
RESULTS_PATH = "/pubsub/results"
HOST = "127.0.0.1"


def local_environment(
    project: str,
    bucket: str,
    firestore_host: str,
    pubsub_host: str,
    storage_url: str,
    **overrides: str,
) -> dict[str, str]:
    """The service's variables for a run on the three emulators, with a fresh push token."""
    return {
        "PROJECT_ID": project,
        "BUCKET_NAME": bucket,
        "NEW_IMAGE_TOPIC": NEW_IMAGE_TOPIC,
        "FIRESTORE_EMULATOR_HOST": firestore_host,
        "PUBSUB_EMULATOR_HOST": pubsub_host,
        "STORAGE_EMULATOR_HOST": storage_url,
        "LOCAL_PUSH_TOKEN": secrets.token_urlsafe(24),
        **overrides,
    }


class UserServiceServer(ChildProcess):
    """functions-framework serving user_service/function/main.py, in a process group of its own.

    A ChildProcess: `start()` (or `launch()`, then `wait_ready()`) returns once it accepts
    connections, `close()` stops it; a context manager.
    """

    def __init__(self, env: Mapping[str, str], port: int | None = None) -> None:
        self.port = port or free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.env = dict(env)
        inherited = {
            name: value
            for name, value in os.environ.items()
            if name not in ("GOOGLE_APPLICATION_CREDENTIALS",)
        }
        super().__init__(
            "user-service",
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--source",
                str(SOURCE),
                "--target",
                TARGET,
                "--signature-type",
                "http",
                "--host",
                HOST,
                "--port",
                str(self.port),
            ],
            ready=lambda _output: accepts(HOST, self.port),
            env={**inherited, **self.env, "PYTHONUNBUFFERED": "1"},
            # SIGINT is gunicorn's quick shutdown (SIGTERM's graceful one waits out the worker).
            stop_signal=signal.SIGINT,
            stop_seconds=2.0,
        )

    @property
    def push_endpoint(self) -> str:
        """The results endpoint with the local push token (what the local subscription pushes to)."""
        return f"{self.url}{RESULTS_PATH}?token={self.env['LOCAL_PUSH_TOKEN']}"
