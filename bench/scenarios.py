"""The measurements, each against functions-framework processes and the in-process wire fakes.

Every block takes an optional `progress(done, total)` callback (bench/progress.py prints it).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.pubsub_v1 import types as pubsub_types

from bench import http_load
from bench.deployed import Deployment
from bench.processes import (
    FLOOR_FUNCTION_SOURCE,
    HELLO_WORLD_SOURCE,
    ServerProcess,
    process_environment,
)
from tests.fakes.pubsub import FakePubSub
from tests.fakes.vision import FakeVision

IMAGE_PATH = "bench/bicycle.jpg"
Metrics = dict[str, Any]
Advance = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    """The default progress callback: say nothing."""


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


class Floor:
    """A running `python -m bench.floor` process (see its docstring)."""

    def __init__(self, env: Mapping[str, str], uri: str, warmup: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.floor", "--uri", uri, "--warmup", str(warmup)],
            env=process_environment(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench.floor exited with {self._process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, events: int) -> list[float]:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{events}\n")
        self._process.stdin.flush()
        latencies: list[float] = self._answer()["latencies"]
        return latencies

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


def overhead(
    bench: Bench, events: int, warmup: int, block: int = 100, progress: Advance = _no_progress
) -> Metrics:
    """Sequential deliveries, Vision answering at once: the function vs its two RPCs alone.

    The function, the hello-world and the floor run in alternating blocks of `block` events, so a
    burst of load from elsewhere on the machine hits all three alike.
    """
    bench.vision.faults.latency_seconds = 0.0
    env = bench.environment()
    function_server = ServerProcess(env).start()
    hello_server = ServerProcess(env, target="hello", source=HELLO_WORLD_SOURCE).start()
    floor = Floor(env, bench.uri, warmup)
    function: list[float] = []
    hello: list[float] = []
    floored: list[float] = []
    reconnects = 0
    try:
        to_function = http_load.Delivery(function_server.host, function_server.port)
        to_hello = http_load.Delivery(hello_server.host, hello_server.port)
        before = bench.published()
        bodies = http_load.push_bodies(warmup + events, IMAGE_PATH)
        _checked(http_load.sequential(to_function, bodies[:warmup]), "function warm-up")
        _checked(http_load.sequential(to_hello, bodies[:warmup]), "hello-world warm-up")
        for start in range(warmup, warmup + events, block):
            chunk = bodies[start : start + block]
            run = _checked(http_load.sequential(to_function, chunk), "function")
            function.extend(run.latencies)
            reconnects += run.reconnects
            hello.extend(_checked(http_load.sequential(to_hello, chunk), "hello-world").latencies)
            floored.extend(floor.run(len(chunk)))
            progress(start - warmup + len(chunk), events)
        _expect_published(bench, before + warmup + events)
        to_function.close()
        to_hello.close()
    finally:
        floor.close()
        function_server.stop()
        hello_server.stop()
    result = {
        "function": summary(function),
        "floor": summary(floored),
        "hello_world_http": summary(hello),
    }
    return {
        **result,
        "ratio_median": result["function"]["median_ms"] / result["floor"]["median_ms"],
        "ratio_p99": result["function"]["p99_ms"] / result["floor"]["p99_ms"],
        # What the function adds beyond its RPCs and a bare functions-framework HTTP round trip.
        "ratio_median_vs_floor_plus_http": result["function"]["median_ms"]
        / (result["floor"]["median_ms"] + result["hello_world_http"]["median_ms"]),
        "reconnects": reconnects,
    }


# -- 2. Concurrency (and 4. memory, measured under it) -------------------------------------------


def concurrency(
    bench: Bench,
    events: int,
    clients: int,
    vision_latency: float,
    *,
    threads: bool,
    with_floor: bool = False,
    progress: Advance = _no_progress,
) -> Metrics:
    """`clients` deliveries in flight at once, Vision answering after `vision_latency` seconds.

    With `with_floor`, the floor function (bench/floor_function/: the same server and THREADS, the
    function's two RPCs and nothing else) takes turns with the function in blocks of 10 waves of
    `clients` deliveries, so load from elsewhere on the machine hits both alike: the ratio function /
    floor is what our code costs in throughput on this machine, now. The ideal (clients / latency)
    is what no server can beat, whatever the machine.
    """
    bench.vision.faults.latency_seconds = vision_latency
    env = bench.environment(threads=threads)
    block = clients * 10
    with ExitStack() as stack:
        server = stack.enter_context(ServerProcess(env))
        floor = None
        if with_floor:
            floor = stack.enter_context(
                ServerProcess(
                    {**env, "BENCH_FLOOR_URI": bench.uri},
                    target="floor",
                    source=FLOOR_FUNCTION_SOURCE,
                )
            )
        servers = [server] if floor is None else [server, floor]
        before = bench.published()
        # One delivery per client first: clients are built and the worker's threads are started.
        for warming in servers:
            http_load.concurrent(
                warming.host, warming.port, http_load.push_bodies(clients, IMAGE_PATH), clients
            )
        latencies: list[float] = []
        wall = floor_wall = cpu = 0.0
        reconnects = 0
        for start in range(0, events, block):
            bodies = http_load.push_bodies(
                min(block, events - start), IMAGE_PATH, clients + 1 + start
            )
            cpu_before = server.cpu_seconds()
            run = _checked(
                http_load.concurrent(server.host, server.port, bodies, clients), "concurrency"
            )
            cpu += server.cpu_seconds() - cpu_before
            wall += run.wall_seconds
            latencies.extend(run.latencies)
            reconnects += run.reconnects
            if floor is not None:
                floor_run = http_load.concurrent(floor.host, floor.port, bodies, clients)
                floor_wall += _checked(floor_run, "floor function").wall_seconds
            progress(start + len(bodies), events)
        memory = server.peak_memory()
        _expect_published(bench, before + len(servers) * (clients + events))
    bench.vision.faults.latency_seconds = 0.0
    ideal = clients / vision_latency
    throughput = events / wall
    result: Metrics = {
        "threads": env.get("THREADS", "default (4 x CPUs)"),
        "clients": clients,
        "vision_latency_ms": vision_latency * 1000,
        "events_per_second": throughput,
        "ideal_events_per_second": ideal,
        "ratio": throughput / ideal,
        "latency": summary(latencies),
        "server_cpu_ms_per_event": cpu / events * 1000,
        "peak_rss_bytes": {
            "server": memory.server,
            "worker": memory.workers,
            "total": memory.total,
        },
        "reconnects": reconnects,
    }
    if floor is not None:
        result["floor_events_per_second"] = events / floor_wall
        result["ratio_vs_floor"] = throughput / result["floor_events_per_second"]
    return result


# -- 3. Cold start -------------------------------------------------------------------------------


def cold_start(bench: Bench, repetitions: int, progress: Advance = _no_progress) -> Metrics:
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
        progress(repetition + 1, repetitions + 1)
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
        delivery = http_load.Delivery(server.host, server.port, sock)
        status = delivery.post(body)
        answered = time.perf_counter()
        # An open keep-alive connection holds gunicorn's graceful stop for about 2 s.
        delivery.close()
        if status != 200:
            raise RuntimeError(f"cold start answered {status}:\n{server.output()}")
        done = answered
        if function_server:
            done = bench.pubsub.wait_for_publishes(published_before + 1)[published_before]
    finally:
        server.stop()
    return {"accept_ms": (accepted - started) * 1000, "done_ms": (done - started) * 1000}
