"""Child processes for `make local`, the test suites and bench/: each in a process group of its own,
its output in a file, stopped group by group.

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
from types import FrameType
from typing import Self

HOST = "127.0.0.1"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], object] | int


@contextlib.contextmanager
def signals_handled(handler: Handler) -> Iterator[None]:
    """SIGINT and SIGTERM go to `handler` (a function, SIG_IGN or SIG_DFL) inside the block.

    SIGINT too, explicitly: a shell starts background jobs with SIGINT ignored, and Python then
    leaves it ignored.
    """
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def interrupted_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's exit status for a stop by signal: 128 + its number (Ctrl-C 130, SIGTERM 143)."""
    name = interrupt.args[0] if interrupt.args else ""
    return 128 + (signal.Signals[name] if name in signal.Signals.__members__ else signal.SIGINT)


def stopped_on_signals() -> contextlib.AbstractContextManager[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt, so `finally` blocks stop the children."""
    return signals_handled(_interrupt)


def signals_ignored() -> contextlib.AbstractContextManager[None]:
    """While stopping: a second Ctrl-C must not cut the stopping short."""
    return signals_handled(signal.SIG_IGN)


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
    with signals_handled(lambda signum, _: pending.append(signum)):
        yield
    for signum in dict.fromkeys(pending):
        signal.raise_signal(signum)


class StartError(RuntimeError):
    """A child did not start: it exited, or it was not ready in time. The message says which."""


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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
    """One command run in its own session; `ready(output)` says when it serves. A context manager.

    `launch()` starts it without waiting, `wait_ready()` waits; `start()` does both. `output()` is
    everything it printed (stdout and stderr), still there after `close()`.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        ready: Callable[[str], bool],
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_seconds: float = 10.0,
    ) -> None:
        self.name = name
        self.command = list(command)
        self._ready = ready
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._stop_signal = stop_signal
        self._stop_seconds = stop_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        # A file, not a pipe: a chatty child must never block on a full pipe.
        # Read through its name, never this handle: the child shares this handle's file offset.
        self._log = tempfile.NamedTemporaryFile(prefix=f"{name.replace(' ', '-')}-")  # noqa: SIM115
        self._final_output = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> float:
        """Start it without waiting; returns the perf_counter() taken just before it was spawned."""
        started = time.perf_counter()
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
        return started

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

    def start(self, timeout: float = 60.0) -> Self:
        """Launch, then wait until ready; a child that does not start is stopped before StartError."""
        self.launch()
        try:
            return self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def output(self) -> str:
        if self._log.closed:
            return self._final_output
        with open(self._log.name, "rb") as log:
            return log.read().decode(errors="replace")

    def stop(self) -> int | None:
        """Stop the whole group (SIGKILL `stop_seconds` after the stop signal); its exit status.
        Safe to call more than once."""
        if self.process is not None and self.returncode is None:
            self.returncode = stop_group(self.process, self._stop_signal, self._stop_seconds)
        return self.returncode

    def close(self) -> None:
        self.stop()
        if not self._log.closed:
            self._final_output = self.output()
            self._log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def stop_group(
    process: subprocess.Popen[bytes], first: signal.Signals, timeout: float = 10.0
) -> int:
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
    return process.returncode


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
