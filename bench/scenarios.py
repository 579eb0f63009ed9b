"""The measurements, each against functions-framework processes and the in-process wire fakes.

Every block takes an optional `progress(done, total)` callback (bench/progress.py prints it).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.pubsub_v1 import types as pubsub_types

from bench import http_load
from bench.deployed import Deployment
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeVision
from bench.processes import FLOOR_FUNCTION_SOURCE, ServerProcess

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


def floor_server(bench: Bench, env: Mapping[str, str]) -> ServerProcess:
    """The floor function (bench/floor.py) behind the same server, with the same environment."""
    return ServerProcess(
        {**env, "BENCH_FLOOR_URI": bench.uri}, target="floor", source=FLOOR_FUNCTION_SOURCE
    )


def overhead(
    bench: Bench, events: int, warmup: int, block: int = 100, progress: Advance = _no_progress
) -> Metrics:
    """Sequential deliveries over one keep-alive connection, Vision answering at once: the function
    against the floor function behind the same server, in alternating blocks of `block` events, so a
    burst of load from elsewhere on the machine hits both alike."""
    bench.vision.faults.latency_seconds = 0.0
    env = bench.environment()
    latencies: dict[str, list[float]] = {"function": [], "floor": []}
    reconnects = 0
    with ExitStack() as stack:
        servers = {
            "function": stack.enter_context(ServerProcess(env)),
            "floor": stack.enter_context(floor_server(bench, env)),
        }
        deliveries = {name: http_load.Delivery(s.host, s.port) for name, s in servers.items()}
        before = bench.published()
        bodies = http_load.push_bodies(warmup + events, IMAGE_PATH)
        for name, delivery in deliveries.items():
            _checked(http_load.sequential(delivery, bodies[:warmup]), f"{name} warm-up")
        for start in range(warmup, warmup + events, block):
            chunk = bodies[start : start + block]
            for name, delivery in deliveries.items():
                run = _checked(http_load.sequential(delivery, chunk), name)
                latencies[name].extend(run.latencies)
                reconnects += run.reconnects
            progress(start - warmup + len(chunk), events)
        _expect_published(bench, before + 2 * (warmup + events))
        for delivery in deliveries.values():
            delivery.close()
    function, floor = summary(latencies["function"]), summary(latencies["floor"])
    return {
        "function": function,
        "floor": floor,
        "ratio_median": function["median_ms"] / floor["median_ms"],
        "ratio_p99": function["p99_ms"] / floor["p99_ms"],
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

    With `with_floor`, the floor function (bench/floor.py: the same server and THREADS, the
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
            floor = stack.enter_context(floor_server(bench, env))
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
    """Popen to the first published result, the function against the floor function, alternating.

    One event is sent as soon as the port accepts a connection. A first, unmeasured start of each
    warms the OS page cache and writes the .pyc files, as a deployed image already has them.
    """
    bench.vision.faults.latency_seconds = 0.0
    env = bench.environment()
    measured: dict[str, list[dict[str, float]]] = {"function": [], "floor": []}
    for repetition in range(repetitions + 1):
        for name, server in (("function", ServerProcess(env)), ("floor", floor_server(bench, env))):
            timing = _one_cold_start(bench, server)
            if repetition:
                measured[name].append(timing)
        progress(repetition + 1, repetitions + 1)
    result: Metrics = {"repetitions": repetitions}
    for name, timings in measured.items():
        result[f"{name}_to_publish_ms"] = statistics.median(m["done_ms"] for m in timings)
        result[f"{name}_port_accepts_ms"] = statistics.median(m["accept_ms"] for m in timings)
    result["ratio"] = result["function_to_publish_ms"] / result["floor_to_publish_ms"]
    return result


def _one_cold_start(bench: Bench, server: ServerProcess) -> dict[str, float]:
    body = http_load.push_bodies(1, IMAGE_PATH)[0]
    published_before = bench.published()
    try:
        started = server.launch()
        sock = server.connect()
        accepted = time.perf_counter()
        delivery = http_load.Delivery(server.host, server.port, sock)
        status = delivery.post(body)
        # An open keep-alive connection holds gunicorn's graceful stop for about 2 s.
        delivery.close()
        if status != 200:
            raise RuntimeError(f"cold start answered {status}:\n{server.output()}")
        done = bench.pubsub.wait_for_publishes(published_before + 1)[published_before]
    finally:
        server.close()
    return {"accept_ms": (accepted - started) * 1000, "done_ms": (done - started) * 1000}
