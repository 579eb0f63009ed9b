"""Thousands of events through the real functions-framework server (gunicorn, gthread) with dozens of
concurrent deliveries and injected faults: only injected faults cause 5xx, every event still ends with
the right result, and the worker process leaks no threads, sockets or memory."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bench.fakes.grpc_server import Faults
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeVision
from bench.processes import children, status_bytes
from ops.function_server import FunctionServer
from tests.fakes.environment import function_environment
from tests.fakes.redelivery import ACK_STATUSES, Redeliverer, RedeliveryReport
from tests.function.conftest import TOPIC_PATH, log_lines
from tests.reliability.conftest import Event
from tests.reliability.workload import check_terminal_results, events, make_cases, register_images

pytestmark = pytest.mark.slow

WARM_UP_EVENTS = 300
EVENTS = 2000
SERVER_THREADS = 16
CONCURRENT_DELIVERIES = 32
FAILURE_RATE = (
    0.25  # of Vision and Publish RPCs: UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED
)
# 1% of the rest stall past the client budget: those deliveries fail (5xx) and are redelivered.
STALL_RATE = 0.01
TIMEOUT_SECONDS = 2.0
STALL_SECONDS = 2.5
MAX_DELIVERY_ATTEMPTS = 10
RSS_GROWTH_LIMIT_BYTES = 16 * 1024 * 1024  # observed: about 5 MiB after 2,000 events


@dataclass(frozen=True)
class Usage:
    threads: int
    sockets: int
    rss_bytes: int

    def __str__(self) -> str:
        return (
            f"{self.threads} threads, {self.sockets} sockets, RSS {self.rss_bytes / 2**20:.1f} MiB"
        )


def usage(pid: int) -> Usage:
    """What the process holds now, from /proc: threads (tasks), open sockets, resident memory."""
    sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            sockets += os.readlink(fd).startswith("socket:")
        except FileNotFoundError:  # closed while we looked
            continue
    threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
    return Usage(threads, sockets, status_bytes(pid, "VmRSS"))


def settled_usage(pid: int, quiet_seconds: float = 2.5, limit_seconds: float = 10.0) -> Usage:
    """Usage once threads and sockets stop changing: idle keep-alive connections are closed by the
    worker after gunicorn's keepalive (2 s, so be quiet longer than that), and finished publish
    threads exit."""
    deadline = time.monotonic() + limit_seconds
    last = usage(pid)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = usage(pid)
        if (now.threads, now.sockets) != (last.threads, last.sockets):
            stable_since = time.monotonic()
        last = now
        if time.monotonic() - stable_since >= quiet_seconds:
            break
    return last


class HttpSender:
    """POSTs events to the server, one keep-alive session per delivering thread."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def __call__(self, delivery: Event) -> int:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        response = session.post(self._url, headers=delivery.headers, data=delivery.body, timeout=30)
        return response.status_code

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()


@dataclass
class Served:
    server: FunctionServer
    vision: FakeVision
    pubsub: FakePubSub
    worker: int


@pytest.fixture
def served() -> Iterator[Served]:
    def faults(seed: int) -> Faults:
        return Faults(
            failure_rate=FAILURE_RATE, slow_rate=STALL_RATE, slow_seconds=STALL_SECONDS, seed=seed
        )

    vision = FakeVision(faults=faults(11))
    pubsub = FakePubSub(faults=faults(12), known_topics={TOPIC_PATH})
    with vision.server(), pubsub.server():
        env = function_environment(
            vision.host,
            pubsub.host,
            VISION_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
            PUBLISH_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
            THREADS=str(SERVER_THREADS),
        )
        with FunctionServer(env) as server:
            assert server.process is not None
            [worker] = children(server.process.pid)  # gunicorn's arbiter forks one worker
            yield Served(server, vision, pubsub, worker)


def run(served: Served, count: int, first_message_id: int) -> RedeliveryReport[Event]:
    cases = make_cases(count, first_message_id)
    register_images(served.vision, cases)
    sender = HttpSender(served.server.url)
    try:
        redeliverer: Redeliverer[Event] = Redeliverer(
            sender,
            max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
            concurrency=CONCURRENT_DELIVERIES,
            backoff_seconds=lambda attempt: 0.02 * attempt,
            connection_errors=(requests.ConnectionError, requests.Timeout),
        )
        return redeliverer.run(events(cases))
    finally:
        sender.close()


def test_thousands_of_concurrent_events_with_faults_lose_nothing_and_leak_nothing(
    served: Served,
) -> None:
    warm_up = run(served, WARM_UP_EVENTS, first_message_id=1_000_000)
    assert warm_up.dead_lettered == []
    before = settled_usage(served.worker)
    injected_before = served.vision.faults.injected + served.pubsub.faults.injected
    log_offset = len(served.server.output())

    report = run(served, EVENTS, first_message_id=2_000_000)

    after = settled_usage(served.worker)
    injected = served.vision.faults.injected + served.pubsub.faults.injected - injected_before
    lines = log_lines(served.server.output()[log_offset:])
    retries = [line for line in lines if line.get("status") == "retry"]
    server_errors = report.status_counts[500]
    print(
        f"\nload: {report.summary()}; {report.deliveries / report.seconds:.0f} deliveries/s; "
        f"retry reasons {sorted({line['message'][:110] for line in retries})[:6]}; "
        f"{injected} faults injected; worker after warm-up: {before}; after: {after}"
    )

    assert report.dead_lettered == []
    assert set(report.status_counts) <= ACK_STATUSES | {500}, report.status_counts
    # Every 5xx is a transient failure the function logged as such (never a crash), and there are
    # no more of them than faults were injected.
    assert server_errors == len(retries), (server_errors, len(retries))
    assert server_errors <= injected
    assert server_errors > 0, "no delivery failed: the faults did not bite"
    assert all("injected" in line["message"] or "Timeout" in line["message"] for line in retries), [
        line["message"] for line in retries
    ]
    all_results = [message.json() for message in served.pubsub.messages(TOPIC_PATH)]
    load_results = [result for result in all_results if result["source_message_id"] >= "2000000"]
    check_terminal_results(make_cases(EVENTS, first_message_id=2_000_000), load_results)
    # Nothing leaks in the worker: threads and sockets back where they were, memory stable.
    assert after.threads <= before.threads, f"threads: {before} -> {after}"
    assert after.sockets <= before.sockets, f"sockets: {before} -> {after}"
    assert after.rss_bytes - before.rss_bytes <= RSS_GROWTH_LIMIT_BYTES, f"{before} -> {after}"
