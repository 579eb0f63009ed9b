"""`make bench` says up front how long it takes, then which block runs, how far, time elapsed and what is
left; the estimate follows the machine's real pace (issue 10: a silent 5-minute run)."""

from __future__ import annotations

import io

from bench.progress import Block, Progress, clock_text


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(clock: Clock) -> tuple[Progress, io.StringIO]:
    stream = io.StringIO()
    blocks = [Block("run 1/1: overhead", 60.0), Block("run 1/1: cold start", 60.0)]
    return Progress(blocks, stream=stream, every_seconds=0.0, clock=clock), stream


def test_the_start_line_says_how_long_the_whole_run_takes() -> None:
    shown, stream = progress(Clock())

    shown.announce("python -m bench")

    assert stream.getvalue() == "python -m bench: 2 blocks, about 2:00 on 2 cores\n"


def test_each_line_names_the_block_its_progress_the_time_elapsed_and_left() -> None:
    clock = Clock()
    shown, stream = progress(clock)

    shown.begin("run 1/1: overhead")
    clock.now = 30.0
    shown.advance(1000, 2000)

    last = stream.getvalue().splitlines()[-1]
    assert last == "[0:30 elapsed, ~1:30 left] run 1/1: overhead: 1000/2000 events"


def test_a_slower_machine_gets_a_longer_estimate_than_the_model() -> None:
    clock = Clock()
    shown, _ = progress(clock)

    shown.begin("run 1/1: overhead")
    clock.now = 120.0  # twice the model's 60 s for the first block
    shown.begin("run 1/1: cold start")

    assert 60.0 < shown.remaining_seconds() <= 120.0


def test_clock_text_is_minutes_and_seconds() -> None:
    assert [clock_text(s) for s in (0, 5.4, 65, 600)] == ["0:00", "0:05", "1:05", "10:00"]
