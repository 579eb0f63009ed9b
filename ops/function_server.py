"""Run the function under the real `functions-framework` server, as a separate process on loopback.

Used by `make local`, the end-to-end and reliability suites and bench/. The server runs in a process
group of its own (functions-framework's gunicorn arbiter forks a worker): `stop()` ends the group.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from labeling.config import VARIABLES
from ops import ROOT
from ops.processes import HOST, ChildProcess, free_port

FUNCTION_SOURCE = ROOT / "function" / "main.py"
# What the function (labeling.config.VARIABLES) and its server read: a server gets these from its
# `env` only, never from the caller's environment, so no run sees another's settings or credentials.
FUNCTION_VARIABLES = tuple(variable.name for variable in VARIABLES)
SERVER_VARIABLES = (
    "THREADS",
    "WORKERS",
    "CLOUD_RUN_TIMEOUT_SECONDS",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST",
    "PYTHONDONTWRITEBYTECODE",  # a deployed image has its .pyc files: so does the server here
)


def function_process_environment(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without anything the function or its server reads, plus `env`."""
    controlled = {*FUNCTION_VARIABLES, *SERVER_VARIABLES}
    inherited = {name: value for name, value in os.environ.items() if name not in controlled}
    return {**inherited, **env, "PYTHONUNBUFFERED": "1"}


def answers_http(url: str) -> bool:
    """Whether the server answers HTTP at all (any status)."""
    try:
        requests.get(url, timeout=1)
    except requests.ConnectionError:
        return False
    return True


class FunctionServer(ChildProcess):
    """`functions-framework --target label_image` with the given environment; a context manager.

    `start()` returns once the server answers HTTP; `launch()` and `connect()` split that in two for
    callers that time the start themselves (bench/ times a cold start to the first accepted socket).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        target: str = "label_image",
        source: Path = FUNCTION_SOURCE,
        port: int | None = None,
    ) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.url = f"http://{self.host}:{self.port}/"
        command = [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            target,
            "--source",
            str(source),
            "--signature-type",
            "cloudevent",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        super().__init__(
            "the function",
            command,
            lambda _output: answers_http(self.url),
            function_process_environment(env),
            # SIGINT is gunicorn's quick shutdown; SIGTERM's graceful one waits out the gthread
            # worker's 1 s poll, a second per stop for nothing once the caller is done. The
            # arbiter's own exit now and then hangs (seen here: 1 stop in 6), so SIGKILL follows
            # after 2 s: everything it logged is already in its output (PYTHONUNBUFFERED).
            stop_signal=signal.SIGINT,
            stop_seconds=2.0,
        )

    def connect(self, timeout: float = 60.0) -> socket.socket:
        """A TCP connection to a launched server, as soon as its port accepts one."""
        assert self.process is not None, "launch() first"
        deadline = time.perf_counter() + timeout
        while True:
            try:
                return socket.create_connection((self.host, self.port), timeout=timeout)
            except ConnectionRefusedError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"functions-framework exited with {self.process.returncode}:\n"
                        + self.output()
                    ) from None
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"port {self.port} never accepted") from None
                time.sleep(0.002)
