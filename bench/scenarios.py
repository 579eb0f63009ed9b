"""The four measurements, each against functions-framework processes and the in-process wire fakes."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.pubsub_v1 import types as pubsub_types

from bench import http_load
from bench.deployed import Deployment
from bench.processes import HELLO_WORLD_SOURCE, ServerProcess, process_environment
from tests.fakes.pubsub import FakePubSub
from tests.fakes.vision import FakeVision

IMAGE_PATH = "bench/bicycle.jpg"
Metrics = dict[str, Any]


@dataclass
class TimedPubSub(FakePubSub):
    """FakePubSub that also notes when (perf_counter) each Publish was stored."""

    publish_times: list[float] = field(default_factory=list)

    def publish(
        self, request: pubsub_types.PublishRequest, context: grpc.ServicerContext
    ) -> pubsub_types.PublishResponse:
        response = super().publish(request, context)
        with self._lock:
            self.publish_times.extend([time.perf_counter()] * len(request.messages))
            self._lock.notify_all()
        return response

    def wait_for_publishes(self, count: int, timeout: float = 30.0) -> list[float]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.publish_times) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"only {len(self.publish_times)} of {count} published")
                self._lock.wait(remaining)
            return list(self.publish_times)


@dataclass
class Bench:
    """The wire fakes (started) and the function's environment pointed at them."""

    deployment: Deployment
    vision: FakeVision
    pubsub: TimedPubSub

    @property
    def uri(self) -> str:
        return f"gs://{self.deployment.bucket}/{IMAGE_PATH}"

    def environment(self, threads: bool = True) -> dict[str, str]:
        env = {
            **self.deployment.environment,
            "VISION_EMULATOR_HOST": self.vision.host,
            "PUBSUB_EMULATOR_HOST": self.pubsub.host,
        }
        if not threads:
            del env["THREADS"]  # functions-framework's default: 4 x os.cpu_count() threads
        return env

    def published(self) -> int:
        with self.pubsub._lock:
            return len(self.pubsub.publish_times)


@contextmanager
def wire_fakes(deployment: Deployment) -> Iterator[Bench]:
    vision = FakeVision()
    pubsub = TimedPubSub(known_topics={deployment.topic_path})
    bench = Bench(deployment, vision, pubsub)
    vision.add_image(bench.uri)
    with vision.server(), pubsub.server():
        yield bench


def summary(seconds: Sequence[float]) -> Metrics:
    """Median, p99 and mean in milliseconds."""
    ms = sorted(value * 1000 for value in seconds)
    return {
        "count": len(ms),
        "median_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
    }


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile of already sorted values."""
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _expect_published(bench: Bench, count: int) -> None:
    bench.pubsub.wait_for_publishes(count, timeout=60)


def _checked(run: http_load.Run, what: str) -> http_load.Run:
    if run.failures:
        raise RuntimeError(f"{what}: {run.failures} deliveries were not answered 200")
    return run


# -- 1. Overhead ---------------------------------------------------------------------------------


def overhead(bench: Bench, events: int, warmup: int) -> Metrics:
    """Sequential deliveries with Vision answering at once: the function vs its two RPCs alone."""
    bench.vision.faults.latency_seconds = 0.0
    env = bench.environment()
    with ServerProcess(env) as server:
        before = bench.published()
        http_load.sequential(server.host, server.port, http_load.push_bodies(warmup, IMAGE_PATH))
        run = _checked(
            http_load.sequential(
                server.host, server.port, http_load.push_bodies(events, IMAGE_PATH, warmup + 1)
            ),
            "overhead",
        )
        _expect_published(bench, before + warmup + events)
    function = summary(run.latencies)

    with ServerProcess(env, target="hello", source=HELLO_WORLD_SOURCE) as server:
        http_load.sequential(server.host, server.port, http_load.push_bodies(warmup, IMAGE_PATH))
        hello = summary(
            _checked(
                http_load.sequential(
                    server.host, server.port, http_load.push_bodies(events, IMAGE_PATH)
                ),
                "hello-world",
            ).latencies
        )

    floor = summary(floor_latencies(env, bench.uri, events, warmup))
    return {
        "function": function,
        "floor": floor,
        "hello_world_http": hello,
        "ratio_median": function["median_ms"] / floor["median_ms"],
        "ratio_p99": function["p99_ms"] / floor["p99_ms"],
        "reconnects": run.reconnects,
    }


def floor_latencies(env: Mapping[str, str], uri: str, events: int, warmup: int) -> list[float]:
    """Run bench.floor in its own process (like the server, apart from the fakes' GIL)."""
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.floor",
            "--events",
            str(events),
            "--warmup",
            str(warmup),
            "--uri",
            uri,
        ],
        env=process_environment(env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if process.returncode:
        raise RuntimeError(f"bench.floor failed ({process.returncode}):\n{process.stderr}")
    latencies: list[float] = json.loads(process.stdout.strip().splitlines()[-1])["latencies"]
    return latencies


# -- 2. Concurrency (and 4. memory, measured under it) -------------------------------------------


def concurrency(
    bench: Bench, events: int, clients: int, vision_latency: float, threads: bool
) -> Metrics:
    """`clients` deliveries in flight at once, Vision answering after `vision_latency` seconds."""
    bench.vision.faults.latency_seconds = vision_latency
    env = bench.environment(threads=threads)
    with ServerProcess(env) as server:
        before = bench.published()
        # One delivery per client first: clients are built and the worker's threads are started.
        http_load.concurrent(
            server.host, server.port, http_load.push_bodies(clients, IMAGE_PATH), clients
        )
        cpu_before = server.cpu_seconds()
        run = _checked(
            http_load.concurrent(
                server.host,
                server.port,
                http_load.push_bodies(events, IMAGE_PATH, clients + 1),
                clients,
            ),
            "concurrency",
        )
        cpu = server.cpu_seconds() - cpu_before
        memory = server.peak_memory()
        _expect_published(bench, before + clients + events)
    bench.vision.faults.latency_seconds = 0.0
    ideal = clients / vision_latency
    throughput = events / run.wall_seconds
    return {
        "threads": env.get("THREADS", "default (4 x CPUs)"),
        "clients": clients,
        "vision_latency_ms": vision_latency * 1000,
        "events_per_second": throughput,
        "ideal_events_per_second": ideal,
        "ratio": throughput / ideal,
        "latency": summary(run.latencies),
        "server_cpu_ms_per_event": cpu / events * 1000,
        "peak_rss_bytes": {
            "server": memory.server,
            "worker": memory.workers,
            "total": memory.total,
        },
        "reconnects": run.reconnects,
    }


# -- 3. Cold start -------------------------------------------------------------------------------


def cold_start(bench: Bench, repetitions: int) -> Metrics:
    """Popen to first published result (function) vs Popen to first 200 (hello-world), alternating.

    One event is sent as soon as the port accepts a connection. A first, unmeasured start of each
    warms the OS page cache and writes the .pyc files, as a deployed image already has them.
    """
    bench.vision.faults.latency_seconds = 0.0
    env = bench.environment()
    function: list[dict[str, float]] = []
    hello: list[dict[str, float]] = []
    for repetition in range(repetitions + 1):
        measured_function = _one_cold_start(bench, env, function_server=True)
        measured_hello = _one_cold_start(bench, env, function_server=False)
        if repetition:
            function.append(measured_function)
            hello.append(measured_hello)
    result = {
        "repetitions": repetitions,
        "function_to_publish_ms": statistics.median(m["done_ms"] for m in function),
        "function_port_accepts_ms": statistics.median(m["accept_ms"] for m in function),
        "hello_world_to_200_ms": statistics.median(m["done_ms"] for m in hello),
        "hello_world_port_accepts_ms": statistics.median(m["accept_ms"] for m in hello),
    }
    result["ratio"] = result["function_to_publish_ms"] / result["hello_world_to_200_ms"]
    return result


def _one_cold_start(
    bench: Bench, env: Mapping[str, str], function_server: bool
) -> dict[str, float]:
    if function_server:
        server = ServerProcess(env)
    else:
        server = ServerProcess(env, target="hello", source=HELLO_WORLD_SOURCE)
    body = http_load.push_bodies(1, IMAGE_PATH)[0]
    published_before = bench.published()
    try:
        started = server.launch()
        sock = server.connect()
        accepted = time.perf_counter()
        status = http_load.Delivery(server.host, server.port, sock).post(body)
        answered = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"cold start answered {status}:\n{server.output()}")
        done = answered
        if function_server:
            done = bench.pubsub.wait_for_publishes(published_before + 1)[published_before]
    finally:
        server.stop()
    return {"accept_ms": (accepted - started) * 1000, "done_ms": (done - started) * 1000}
