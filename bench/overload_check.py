"""The simulator's building blocks against the real thing: the function's Vision call, real time.

    python -m bench.overload_check [--seconds 5] [--threads 64] [--rate 20]

`threads` callers run the function's own `VisionLabeler` (the real Vision client with the function's
in-call retry and timeout) back to back against the in-process Vision fake, which enforces a quota
with the same token bucket the simulator uses (bench/fakes/vision.py RateLimit). The same setup is
then simulated (flow "fixed": `threads` requests always outstanding, no push backoff) and the two
are set side by side: calls that succeeded, calls that failed after the in-call retry (the function
would answer 500), and Vision requests per call.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.fakes.vision import FakeImage, FakeVision, RateLimit
from bench.overload import Outcome, Scenario, simulate
from labeling.clients import build_vision_client
from labeling.config import Settings
from labeling.errors import TransientError
from labeling.vision import VisionLabeler

URI = "gs://overload-check/bicycle.jpg"


@dataclass(frozen=True)
class Measured:
    seconds: float
    succeeded: int
    failed: int
    vision_requests: int
    vision_refused: int

    @property
    def requests_per_call(self) -> float:
        return self.vision_requests / max(self.succeeded + self.failed, 1)


def measure(seconds: float, threads: int, rate: float, burst_seconds: float) -> Measured:
    """Real time: `threads` callers for `seconds` against a fake limited to `rate` requests/s."""
    vision = FakeVision(rate_limit=RateLimit(rate, rate * burst_seconds))
    vision.add_image(URI, FakeImage())
    counts = {"succeeded": 0, "failed": 0}
    lock = threading.Lock()
    with vision.server():
        settings = Settings(
            project_id="overload-check",
            topic_id="unused",
            bucket_name="overload-check",
            vision_emulator_host=vision.host,
        )
        labeler = VisionLabeler(build_vision_client(settings), settings)
        labeler.annotate(URI)  # connect once, outside the measurement
        assert vision.rate_limit is not None
        limit = vision.rate_limit
        limit.allowed = limit.refused = 0
        stop = time.monotonic() + seconds

        def caller() -> None:
            while time.monotonic() < stop:
                try:
                    labeler.annotate(URI)
                    outcome = "succeeded"
                except TransientError:
                    outcome = "failed"
                with lock:
                    counts[outcome] += 1

        workers = [threading.Thread(target=caller) for _ in range(threads)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
    return Measured(
        elapsed, counts["succeeded"], counts["failed"], limit.allowed + limit.refused, limit.refused
    )


def simulated(seconds: float, threads: int, rate: float, burst_seconds: float) -> Outcome:
    """The same closed loop on the virtual clock."""
    return simulate(
        Scenario(
            burst_rate=1_000_000.0,
            # Everything queued at once, more than the callers can take: they never run dry.
            burst_minutes=(rate + threads * 100) * seconds / 1_000_000.0 / 60,
            quota_per_second=rate,
            bucket_seconds=burst_seconds,
            max_instances=1,
            concurrency=threads,
            max_delivery_attempts=1_000_000,
            minimum_backoff=0.0,
            maximum_backoff=0.0,
            vision_latency=0.002,
            reject_latency=0.002,
            flow="fixed",
            window=threads,
            horizon_hours=seconds / 3600,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload_check", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--rate", type=float, default=20.0, help="quota, requests/s")
    parser.add_argument("--burst-seconds", type=float, default=1.0, help="bucket, seconds of quota")
    arguments = parser.parse_args(argv)
    real = measure(arguments.seconds, arguments.threads, arguments.rate, arguments.burst_seconds)
    model = simulated(real.seconds, arguments.threads, arguments.rate, arguments.burst_seconds)
    model_per_call = model.vision_requests / max(model.processed + model.deliveries_failed, 1)
    print(
        f"{arguments.threads} callers for {real.seconds:.1f} s against a quota of "
        f"{arguments.rate:g}/s (bucket {arguments.burst_seconds:g} s)"
    )
    print(f"{'':28}{'real time':>12}{'simulated':>12}")
    print(f"{'calls succeeded':28}{real.succeeded:>12}{model.processed:>12}")
    print(f"{'calls failed (HTTP 500)':28}{real.failed:>12}{model.deliveries_failed:>12}")
    print(f"{'Vision requests':28}{real.vision_requests:>12}{model.vision_requests:>12}")
    print(f"{'Vision requests per call':28}{real.requests_per_call:>12.1f}{model_per_call:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
