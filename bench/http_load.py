"""Deliver push bodies over HTTP/1.1 keep-alive, as Pub/Sub push does, and time each delivery.

http.client rather than requests: the client's own cost is part of every measured round trip, so the
lighter the client, the closer the figure is to the server's.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.fakes.events import push_body

HEADERS = {"Content-Type": "application/json"}


def push_bodies(count: int, path: str, first_id: int = 1) -> list[bytes]:
    """Pre-encoded push bodies (one distinct message each), so encoding is never timed."""
    return [
        json.dumps(push_body({"id": first_id + index, "path": path})).encode()
        for index in range(count)
    ]


class Delivery:
    """One keep-alive connection; reconnects (and counts it) if the server closed it."""

    def __init__(self, host: str, port: int, sock: socket.socket | None = None) -> None:
        self._connection = http.client.HTTPConnection(host, port, timeout=60)
        if sock is not None:
            self._connection.sock = sock
        self.reconnects = 0

    def connect(self) -> None:
        self._connection.connect()

    def post(self, body: bytes) -> int:
        """POST one push body, return the HTTP status once the whole response is read."""
        for attempt in range(2):
            try:
                self._connection.request("POST", "/", body=body, headers=HEADERS)
                response = self._connection.getresponse()
                response.read()
                return response.status
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if attempt:
                    raise
                self.reconnects += 1
                self._connection.close()
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._connection.close()


@dataclass(frozen=True)
class Run:
    """Per-delivery latencies (seconds) and the wall time of the whole run."""

    latencies: list[float]
    wall_seconds: float
    failures: int
    reconnects: int


def sequential(delivery: Delivery, bodies: Sequence[bytes]) -> Run:
    """One delivery at a time on one (kept-alive) connection."""
    latencies = []
    failures = 0
    reconnects = delivery.reconnects
    started = time.perf_counter()
    for body in bodies:
        before = time.perf_counter()
        status = delivery.post(body)
        latencies.append(time.perf_counter() - before)
        failures += status != 200
    wall = time.perf_counter() - started
    return Run(latencies, wall, failures, delivery.reconnects - reconnects)


def concurrent(host: str, port: int, bodies: Sequence[bytes], clients: int) -> Run:
    """`clients` threads, each with its own connection, deliver `bodies` as fast as answered."""
    deliveries = [Delivery(host, port) for _ in range(clients)]
    for delivery in deliveries:
        delivery.connect()
    next_index = iter(range(len(bodies)))
    lock = threading.Lock()
    latencies: list[float] = []
    failures = [0]
    finished_at = [0.0]
    ready = threading.Barrier(clients + 1)

    def client(delivery: Delivery) -> None:
        ready.wait()
        mine: list[float] = []
        bad = 0
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            before = time.perf_counter()
            status = delivery.post(bodies[index])
            after = time.perf_counter()
            mine.append(after - before)
            bad += status != 200
        with lock:
            latencies.extend(mine)
            failures[0] += bad
            finished_at[0] = max(finished_at[0], time.perf_counter())

    threads = [threading.Thread(target=client, args=(delivery,)) for delivery in deliveries]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    for delivery in deliveries:
        delivery.close()
    return Run(
        latencies,
        finished_at[0] - started,
        failures[0],
        sum(delivery.reconnects for delivery in deliveries),
    )
