"""Run the function under the real `functions-framework` server, as a separate process on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_SOURCE = ROOT / "function" / "main.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll until the server answers HTTP at all (any status), or fail if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"functions-framework exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise TimeoutError(f"functions-framework did not serve {url} within {timeout} s")


class FunctionServer:
    """`functions-framework --target label_image` with the given environment; a context manager."""

    def __init__(
        self,
        env: Mapping[str, str],
        target: str = "label_image",
        source: Path = FUNCTION_SOURCE,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._command = [
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
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self._env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a server that logs a line per event must never block on a full pipe.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server

    def start(self, timeout: float = 30.0) -> FunctionServer:
        self.process = subprocess.Popen(
            self._command, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_serving(self.url, self.process, timeout)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}; its output:\n{self.stop()}") from None
        return self

    def output(self) -> str:
        """Everything the server printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> str:
        """Stop the server and return everything it printed."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()

    def __enter__(self) -> FunctionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
