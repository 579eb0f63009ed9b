"""Run the function under the real `functions-framework` server, as a separate process on loopback.

Used by `make local`, the end-to-end and reliability suites and bench/. The server runs in a process
group of its own (functions-framework's gunicorn arbiter forks a worker): `stop()` ends the group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import requests

from ops.processes import signals_deferred, stop_group

ROOT = Path(__file__).resolve().parents[1]
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
        inherited: Mapping[str, str] | None = None,
    ) -> None:
        """`inherited`: what the server sees beneath `env`; os.environ by default."""
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.url = f"http://{self.host}:{self.port}/"
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
            self.host,
            "--port",
            str(self.port),
        ]
        base = os.environ if inherited is None else inherited
        self._env = {**base, **env, "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a server that logs a line per event must never block on a full pipe.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._final_output = ""
        self._stopped = False

    def launch(self) -> float:
        """Start the process without waiting; returns the perf_counter() taken just before Popen."""
        started = time.perf_counter()
        with signals_deferred():  # a Ctrl-C mid-spawn must not orphan it
            self.process = subprocess.Popen(
                self._command,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: a Ctrl-C reaches it only through stop()
            )
        return started

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

    def start(self, timeout: float = 30.0) -> Self:
        self.launch()
        assert self.process is not None
        try:
            wait_until_serving(self.url, self.process, timeout)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}; its output:\n{self.stop()}") from None
        return self

    def output(self) -> str:
        """Everything the server printed so far."""
        if self._log.closed:
            return self._final_output
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> str:
        """Stop the server and return everything it printed; output() still returns it after."""
        if self.process is not None and not self._stopped:
            self._stopped = True
            # SIGINT is gunicorn's quick shutdown; SIGTERM's graceful one waits out the gthread
            # worker's 1 s poll, a second per stop for nothing once the caller is done. The group's
            # SIGKILL after it takes any worker the arbiter left behind.
            stop_group(self.process, signal.SIGINT)
        self._final_output = self.output()
        self._log.close()
        return self._final_output

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
