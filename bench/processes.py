"""functions-framework as a real process on loopback, and what /proc says about it (memory, CPU).

functions-framework imports the function in its own process, then runs gunicorn, whose arbiter forks one
gthread worker that serves every request (WORKERS=1, THREADS threads). Both processes are measured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.environment import FUNCTION_ENV_NAMES
from tests.fakes.function_server import FUNCTION_SOURCE, FunctionServer

HELLO_WORLD_SOURCE = Path(__file__).resolve().parent / "hello_world" / "main.py"
# The function's two RPCs behind the same server, and nothing else (bench/floor.py).
FLOOR_FUNCTION_SOURCE = Path(__file__).resolve().parent / "floor_function" / "main.py"
# Variables the function or the server read: the benchmark sets them explicitly, or leaves them unset
# (THREADS unset is functions-framework's default server configuration).
CONTROLLED = frozenset(
    {
        *FUNCTION_ENV_NAMES,
        "THREADS",
        "WORKERS",
        "CLOUD_RUN_TIMEOUT_SECONDS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "PYTHONDONTWRITEBYTECODE",
    }
)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    """Peak resident set sizes (VmHWM) in bytes."""

    server: int  # the functions-framework / gunicorn arbiter process
    workers: int  # the forked worker(s) that run the function

    @property
    def total(self) -> int:
        """An upper bound: pages the fork still shares are counted in both processes."""
        return self.server + self.workers


class ServerProcess(FunctionServer):
    """A FunctionServer that inherits nothing in CONTROLLED, plus what /proc says about it."""

    def __init__(
        self, env: Mapping[str, str], target: str = "label_image", source: Path = FUNCTION_SOURCE
    ) -> None:
        super().__init__(env, target, source, inherited=inherited_environment())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def workers(self) -> list[int]:
        return children(self.pid)

    def peak_memory(self) -> Memory:
        return Memory(
            server=status_bytes(self.pid, "VmHWM"),
            workers=sum(status_bytes(pid, "VmHWM") for pid in self.workers()),
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its live workers so far."""
        return sum(cpu_seconds(pid) for pid in (self.pid, *self.workers()))


def inherited_environment() -> dict[str, str]:
    """This process's environment without anything the function or server reads."""
    return {name: value for name, value in os.environ.items() if name not in CONTROLLED}


def process_environment(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without anything the function or server reads, plus `env`."""
    return {**inherited_environment(), **env, "PYTHONUNBUFFERED": "1"}


def children(pid: int) -> list[int]:
    """Direct children of `pid` (all its threads' children), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def status_bytes(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmHWM: peak RSS, VmRSS: current), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0]) * 1024
    raise KeyError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
