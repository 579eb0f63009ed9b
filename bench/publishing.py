"""Publishing: the direct Publish RPC the function makes against the batching client it replaced, and
what an event costs right after a failed publish.

`python -m bench.publishing` runs as its own process with its own Pub/Sub fake (both paths share that
process alike), alternating blocks of publishes through:
- `direct`: labeling.publisher.ResultPublisher, one synchronous Publish RPC per result (the function);
- `batching`: google.cloud.pubsub_v1.PublisherClient tuned as before (max_messages=1,
  max_latency=inf), waiting on the future, the same retry and timeout;
- `batching_default`: the same client with its default BatchSettings (up to 100 messages or 10 ms:
  each lone message waits the 10 ms; fewer events, it is slow).
Then, per path, rounds of one publish that fails (NOT_FOUND, scripted on the fake) followed by one
that should succeed: how many did, and how long they took. It prints one JSON object.

`recovery()` measures the same on the function itself (a functions-framework process): after each
delivery whose publish failed, the next delivery's status and latency, against ordinary deliveries
in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from google.api_core import retry as api_retry
from google.cloud import pubsub_v1

from bench import http_load, scenarios
from bench.fakes.pubsub import FakePubSub
from bench.processes import ServerProcess
from labeling.clients import build_publisher
from labeling.config import Settings
from labeling.publisher import RETRYABLE, ResultPublisher
from ops.function_server import function_process_environment

TOPIC_PATH = "projects/bench-project/topics/bench-results"
DATA = json.dumps(
    {"id": 1, "status": "labeled", "labels": [{"description": "Bicycle"}] * 5}
).encode()
ATTRIBUTES = {"id": "1", "status": "labeled", "matched": "true"}
TIMEOUT_SECONDS = 10.0
Publish = Callable[[], str]


def batching_client(settings: pubsub_v1.types.BatchSettings) -> pubsub_v1.PublisherClient:
    """The client labeling.publisher used before (2.44 batching path), with the same retry."""
    return pubsub_v1.PublisherClient(
        batch_settings=settings,
        publisher_options=pubsub_v1.types.PublisherOptions(
            retry=api_retry.Retry(
                predicate=api_retry.if_exception_type(*RETRYABLE),
                initial=0.1,
                maximum=1.0,
                multiplier=2.0,
                timeout=2.0,
            ),
            timeout=TIMEOUT_SECONDS,
        ),
    )


def _through_batches(client: pubsub_v1.PublisherClient) -> Publish:
    def publish() -> str:
        message_id: str = client.publish(TOPIC_PATH, DATA, **ATTRIBUTES).result(
            timeout=TIMEOUT_SECONDS
        )
        return message_id

    return publish


def _timed(publish: Publish, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        before = time.perf_counter()
        publish()
        latencies.append(time.perf_counter() - before)
    return latencies


def _after_failure(fake: FakePubSub, publish: Publish, rounds: int) -> dict[str, Any]:
    """Rounds of: one publish that fails (NOT_FOUND), then one that should succeed, timed."""
    succeeded = 0
    latencies = []
    errors: set[str] = set()
    for _ in range(rounds):
        fake.faults.fail_next(grpc.StatusCode.NOT_FOUND)
        with contextlib.suppress(Exception):  # this publish failing is the point
            publish()
        before = time.perf_counter()
        try:
            publish()
        except Exception as error:  # counted, by message
            errors.add(f"{type(error).__name__}: {error}")
            continue
        latencies.append(time.perf_counter() - before)
        succeeded += 1
    return {
        "rounds": rounds,
        "succeeded": succeeded,
        "errors": "; ".join(sorted(errors)) or None,
        "median_ms": _median_ms(latencies),
    }


def _median_ms(seconds: Sequence[float]) -> float | None:
    if not seconds:
        return None
    ordered = sorted(seconds)
    return ordered[len(ordered) // 2] * 1000


def _p99_ms(seconds: Sequence[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000


def measure(events: int, rounds: int, block: int = 100) -> dict[str, Any]:
    fake = FakePubSub(known_topics={TOPIC_PATH})
    with fake.server():
        os.environ["PUBSUB_EMULATOR_HOST"] = fake.host
        settings = Settings.from_env(
            dict(os.environ)
            | {"PROJECT_ID": "bench-project", "TOPIC_ID": "bench-results", "BUCKET_NAME": "b"}
        )
        direct_publisher = ResultPublisher(build_publisher(settings), TOPIC_PATH, TIMEOUT_SECONDS)
        paths: dict[str, Publish] = {
            "direct": lambda: direct_publisher.publish(DATA, ATTRIBUTES),
            "batching": _through_batches(
                batching_client(pubsub_v1.types.BatchSettings(max_messages=1, max_latency=math.inf))
            ),
        }
        default = _through_batches(batching_client(pubsub_v1.types.BatchSettings()))
        for publish in [*paths.values(), default]:
            _timed(publish, 20)  # warm: channels connected
        latencies: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(0, events, block):
            for name, publish in paths.items():
                latencies[name] += _timed(publish, block)
        default_latencies = _timed(default, max(20, events // 20))
        result: dict[str, Any] = {
            name: {"median_ms": _median_ms(values), "p99_ms": _p99_ms(values)}
            for name, values in latencies.items()
        }
        result["batching_default"] = {
            "median_ms": _median_ms(default_latencies),
            "p99_ms": _p99_ms(default_latencies),
        }
        result["ratio_direct_to_batching_median"] = (
            result["direct"]["median_ms"] / result["batching"]["median_ms"]
        )
        # Last: a failed publish leaves the batching client unable to publish to that topic again.
        result["after_failure"] = {
            name: _after_failure(fake, publish, rounds) for name, publish in paths.items()
        }
        fake.faults.script.clear()
    return result


def paths(env: Mapping[str, str], events: int, rounds: int) -> dict[str, Any]:
    """Run `python -m bench.publishing` (its own process and fake) and return its figures."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.publishing",
            "--events",
            str(events),
            "--rounds",
            str(rounds),
        ],
        env=function_process_environment(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return figures


def recovery(wired: scenarios.Bench, rounds: int) -> dict[str, Any]:
    """The function process: after each delivery whose publish failed, is the next one answered 200,
    and how fast, against ordinary deliveries of the same run."""
    bodies = http_load.push_bodies(3 * rounds + 20, scenarios.IMAGE_PATH, first_id=5_000_000)
    with ServerProcess(wired.environment()) as server:
        delivery = http_load.Delivery(server.host, server.port)
        for body in bodies[:20]:
            delivery.post(body)  # warm: clients built, channels connected
        after: list[float] = []
        ordinary: list[float] = []
        failed_publish_5xx = 0
        for index in range(rounds):
            first = 20 + 3 * index
            before = time.perf_counter()
            if delivery.post(bodies[first]) != 200:
                raise RuntimeError("an ordinary delivery was not answered 200")
            ordinary.append(time.perf_counter() - before)
            wired.pubsub.faults.fail_next(grpc.StatusCode.NOT_FOUND)
            failed_publish_5xx += delivery.post(bodies[first + 1]) >= 500
            before = time.perf_counter()
            if delivery.post(bodies[first + 2]) == 200:
                after.append(time.perf_counter() - before)
        delivery.close()
    ordinary_ms = _median_ms(ordinary)
    after_ms = _median_ms(after)
    return {
        "rounds": rounds,
        "failed_publish_answered_5xx": failed_publish_5xx,
        "recovered": len(after),
        "ordinary_median_ms": ordinary_ms,
        "after_failure_median_ms": after_ms,
        "ratio": after_ms / ordinary_ms if after_ms and ordinary_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.publishing")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(measure(args.events, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
