"""An in-process gRPC server on loopback that serves real Google message types.

The fakes register plain Python callables per method; this module wires them into `grpc` with the
types' own `serialize`/`deserialize`, so the real client libraries talk to it exactly as to Google.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

Handler = Callable[[Any, grpc.ServicerContext], Any]

TRANSIENT_CODES: tuple[grpc.StatusCode, ...] = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


@dataclass(frozen=True)
class Method:
    """One unary RPC: its name, the callable that serves it, and its message types."""

    name: str
    handler: Handler
    request_type: Any
    response_type: Any


@dataclass
class Faults:
    """What goes wrong, and how often, before an RPC is served.

    An outage (`start_outage` .. `end_outage`, or for a number of seconds) comes first: while it lasts
    every call fails with its code, after stalling `stall_seconds` if given (a hung peer: the client's
    deadline passes first, and the call still fails, so nothing lands late). Real outages are
    correlated like this; per-call coin flips are what an in-call retry absorbs.
    Then `script` is consumed, one entry per call: a status code fails that call, a float delays it
    by that many seconds, None serves it normally. Then `failure_rate` picks a code from `codes`, and
    `slow_rate` delays a call by `slow_seconds`. A seeded RNG keeps runs repeatable.
    """

    failure_rate: float = 0.0
    codes: tuple[grpc.StatusCode, ...] = TRANSIENT_CODES
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    latency_seconds: float = 0.0
    seed: int = 0
    script: deque[grpc.StatusCode | float | None] = field(default_factory=deque)
    injected: int = 0
    outage_calls: int = 0  # calls failed by an outage
    _outage: tuple[float, grpc.StatusCode, float] | None = None  # (until, code, stall seconds)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def fail_next(self, *codes: grpc.StatusCode) -> None:
        """Fail the next len(codes) calls with these codes, in order."""
        with self._lock:
            self.script.extend(codes)

    def start_outage(
        self,
        seconds: float = math.inf,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        stall_seconds: float = 0.0,
    ) -> None:
        """Fail every call from now on, for `seconds` or until `end_outage()`."""
        with self._lock:
            self._outage = (time.monotonic() + seconds, code, stall_seconds)

    def end_outage(self) -> None:
        with self._lock:
            self._outage = None

    def decide(self) -> tuple[grpc.StatusCode | None, float]:
        """The fault for one call: (status code to fail with or None, seconds to wait first)."""
        with self._lock:
            delay = self.latency_seconds
            if self._outage is not None and time.monotonic() < self._outage[0]:
                _, code, stall_seconds = self._outage
                self.injected += 1
                self.outage_calls += 1
                return code, delay + stall_seconds
            if self.script:
                step = self.script.popleft()
                if isinstance(step, grpc.StatusCode):
                    self.injected += 1
                    return step, delay
                return None, delay + (step or 0.0)
            if self.failure_rate and self._rng.random() < self.failure_rate:
                self.injected += 1
                return self._rng.choice(self.codes), delay
            if self.slow_rate and self._rng.random() < self.slow_rate:
                self.injected += 1
                delay += self.slow_seconds
            return None, delay


def apply_faults(faults: Faults, context: grpc.ServicerContext, rpc: str) -> None:
    """Sleep and/or abort the call as `faults` decides; returns normally when the call should run."""
    code, delay = faults.decide()
    if delay:
        time.sleep(delay)
    if code is not None:
        context.abort(code, f"injected {code.name} on {rpc}")


class GrpcFakeServer:
    """A gRPC server on 127.0.0.1 with an ephemeral port; use as a context manager.

    `stop()` then `start()` brings it back on the same address, as a restarted peer would: every
    connection is closed, and clients must reconnect by themselves.
    """

    def __init__(self, services: dict[str, Iterable[Method]], max_workers: int = 128) -> None:
        self._services = {name: list(methods) for name, methods in services.items()}
        self._max_workers = max_workers
        self._stopped = False
        self._server = self._build(0)
        self.host = f"127.0.0.1:{self.port}"

    def _build(self, port: int) -> grpc.Server:
        server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix="grpc-fake"
            ),
            options=[("grpc.so_reuseport", 0)],
        )
        for service_name, methods in self._services.items():
            handlers = {
                method.name: grpc.unary_unary_rpc_method_handler(
                    method.handler,
                    request_deserializer=method.request_type.deserialize,
                    response_serializer=method.response_type.serialize,
                )
                for method in methods
            }
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service_name, handlers),)
            )
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        if not bound:
            raise RuntimeError(f"could not bind 127.0.0.1:{port}")
        self.port: int = bound
        return server

    def start(self) -> GrpcFakeServer:
        if self._stopped:  # a grpc.Server cannot start twice: a new one on the same port
            self._server = self._build(self.port)
            self._stopped = False
        self._server.start()
        return self

    def stop(self) -> None:
        if not self._stopped:
            self._server.stop(grace=None).wait(5)
            self._stopped = True

    def __enter__(self) -> GrpcFakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
