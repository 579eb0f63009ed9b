"""Progress lines on stderr: which block runs, how far it is, time elapsed and an estimate of what is left.

The estimate starts from a per-block cost model (seconds per event, per server start, measured on this
project's 2-core machines) and is rescaled by how fast the run has actually gone so far, so a busy
machine's estimate grows as the run slows down.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

PRIOR_SECONDS = 30.0


@dataclass(frozen=True)
class Block:
    name: str
    estimate_seconds: float


@dataclass
class Progress:
    """`blocks` in the order they run; `begin(name)` each, then `advance(done, total)` within it."""

    blocks: list[Block]
    stream: TextIO = field(default=sys.stderr)
    every_seconds: float = (
        5.0  # at most one line this often within a block, besides its first and last
    )
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False)
    _index: int = field(init=False, default=-1)
    _block_started: float = field(init=False, default=0.0)
    _fraction: float = field(init=False, default=0.0)
    _last_line: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self._started = self.clock()

    @property
    def estimate_seconds(self) -> float:
        return sum(block.estimate_seconds for block in self.blocks)

    def announce(self, what: str, note: str = "") -> None:
        """The first line: how long the whole run should take."""
        estimate = clock_text(self.estimate_seconds)
        self._write(f"{what}: {len(self.blocks)} blocks, about {estimate} on 2 cores{note}")

    def begin(self, name: str) -> None:
        self._index = next(
            index
            for index in range(self._index + 1, len(self.blocks))
            if self.blocks[index].name == name
        )
        self._block_started = self.clock()
        self._fraction = 0.0
        self._line(self.blocks[self._index].name)

    def advance(self, done: int, total: int, unit: str = "events") -> None:
        self._fraction = done / total if total else 1.0
        if done >= total or self.clock() - self._last_line >= self.every_seconds:
            self._line(f"{self.blocks[self._index].name}: {done}/{total} {unit}")

    def remaining_seconds(self) -> float:
        """Estimated seconds left: the model's remaining work, at the pace measured so far."""
        if self._index < 0:
            return self.estimate_seconds
        done_estimate = sum(block.estimate_seconds for block in self.blocks[: self._index])
        current = self.blocks[self._index].estimate_seconds
        done_estimate += current * self._fraction
        left_estimate = self.estimate_seconds - done_estimate
        elapsed = self.clock() - self._started
        # The measured pace, damped by the model's own for the first half minute of estimated work.
        prior = min(PRIOR_SECONDS, self.estimate_seconds / 4)
        pace = (elapsed + prior) / (done_estimate + prior) if done_estimate + prior > 0 else 1.0
        return left_estimate * pace

    def _line(self, text: str) -> None:
        elapsed = self.clock() - self._started
        self._last_line = self.clock()
        self._write(
            f"[{clock_text(elapsed)} elapsed, ~{clock_text(self.remaining_seconds())} left] {text}"
        )

    def _write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def clock_text(seconds: float) -> str:
    """1:05 for 65 seconds."""
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"
