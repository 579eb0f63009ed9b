"""The local Vision emulator (`python -m vision_emulator`) as a separate process, started as `make local`
starts it: port 0, readiness read from its one stdout line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"Vision emulator listening on (?P<host>[^\s:]+):(?P<port>\d+)")
MODEL_DIR = ROOT / "vision_emulator" / "model"


class EmulatorProcess:
    """`python -m vision_emulator --host 127.0.0.1 --port 0`; a context manager.

    `host` is "127.0.0.1:PORT" (what VISION_EMULATOR_HOST takes) once `start()` has returned.
    """

    def __init__(
        self,
        storage_emulator_host: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.command = [
            sys.executable,
            "-m",
            "vision_emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *extra_args,
        ]
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.env.pop("STORAGE_EMULATOR_HOST", None)
        if storage_emulator_host:
            self.env["STORAGE_EMULATOR_HOST"] = storage_emulator_host
        self.process: subprocess.Popen[str] | None = None
        self.ready_line = ""
        self.host = ""
        self.port = 0
        # A file, not a pipe, for the JSON log lines: a busy server must never block on a full pipe.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._final_log = ""

    def start(self, timeout: float = 60.0) -> Self:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        line: list[str] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0]:
            self.stop()
            raise RuntimeError(
                f"the Vision emulator printed no readiness line within {timeout} s "
                f"(exit code {self.process.returncode}):\n{self.log()}"
            )
        self.ready_line = line[0].rstrip("\n")
        match = READY.fullmatch(self.ready_line)
        if match is None:
            self.stop()
            raise RuntimeError(f"unexpected readiness line {self.ready_line!r}")
        self.port = int(match["port"])
        self.host = f"{match['host']}:{self.port}"
        return self

    def log(self) -> str:
        """Everything the emulator wrote to stderr so far (its JSON log lines)."""
        if self._log.closed:
            return self._final_log
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> int | None:
        """Stop it with SIGTERM (as `make local` does) and return its exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._final_log = self.log()
            self._log.close()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        return None if self.process is None else self.process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
