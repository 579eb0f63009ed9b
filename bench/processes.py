"""functions-framework as a real process on loopback, and what /proc says about it (memory, CPU).

functions-framework imports the function in its own process, then runs gunicorn, whose arbiter forks one
gthread worker that serves every request (WORKERS=1, THREADS threads). Both processes are measured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ops.function_server import FunctionServer

# The floor function: the function's two RPCs behind the same server, and nothing else.
FLOOR_FUNCTION_SOURCE = Path(__file__).resolve().parent / "floor.py"
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
    """A FunctionServer, plus what /proc says about it."""

    def _pid(self) -> int:
        assert self.process is not None, "launch() first"
        return self.process.pid

    def workers(self) -> list[int]:
        return children(self._pid())

    def peak_memory(self) -> Memory:
        return Memory(
            server=status_bytes(self._pid(), "VmHWM"),
            workers=sum(status_bytes(pid, "VmHWM") for pid in self.workers()),
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its live workers so far."""
        return sum(cpu_seconds(pid) for pid in (self._pid(), *self.workers()))


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
