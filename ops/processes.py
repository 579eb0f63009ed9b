"""Child processes for `make local`: each in a process group of its own, its output in a file.

A group of its own means a Ctrl-C in the terminal reaches only `make local` itself, which then stops
every child it started, group by group (a child's own children included), in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Self

_DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while a child is spawned and recorded, then act on them.

    A KeyboardInterrupt raised inside `subprocess.Popen` (it waits for the child's exec) leaves a
    child running that nobody holds: it would outlive us, adopted by PID 1. The signal is instead
    noted, and raised again once the child is recorded and the previous handlers are back. (Python
    handlers do not survive exec, so the child gets the default ones.) Main thread only: elsewhere
    signals are never delivered to Python code anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: pending.append(signum))
        for sig in _DEFERRED_SIGNALS
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


class StartError(RuntimeError):
    """A child did not start: it exited, or it was not ready in time. The message says which."""


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on (or holds) host:port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no output)"


class ChildProcess:
    """One command run in its own session; `ready(output)` says when it serves."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        ready: Callable[[str], bool],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self._ready = ready
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a chatty child must never block on a full pipe.
        self._log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log")  # noqa: SIM115

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> Self:
        """Start it without waiting."""
        with signals_deferred():
            self.process = subprocess.Popen(
                self.command,
                env=self._env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float) -> Self:
        """Return once ready; StartError (with the child's last words) if it exits or times out."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while not self._ready(self.output()):
            returncode = self.process.poll()
            if returncode is not None:
                raise StartError(
                    f"{self.name} exited with status {returncode} before serving: "
                    f"{last_lines(self.output())}"
                )
            if time.monotonic() > deadline:
                raise StartError(f"{self.name} was not ready within {timeout:.0f} s")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        with open(self._log.name, "rb") as log:
            return log.read().decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after 10 s; safe to call more than once."""
        process, self.process = self.process, None
        if process is not None:
            stop_group(process, signal.SIGTERM)

    def close(self) -> None:
        self.stop()
        self._log.close()


def stop_group(
    process: subprocess.Popen[bytes], first: signal.Signals, timeout: float = 10.0
) -> None:
    """Stop a child started in a session of its own: `first` to its whole group, SIGKILL if it is
    still there after `timeout` s, then SIGKILL to whatever of the group it left behind."""
    if process.poll() is None:
        _signal_group(process.pid, first)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
