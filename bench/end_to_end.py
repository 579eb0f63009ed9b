"""Publish to result, through Google's Pub/Sub emulator and the real function (issue 10, item 5).

What a User-Service sees: a `{"id", "path"}` message published to `user-service-new-image`, delivered
by a real push subscription of the emulator to the function (functions-framework, the environment infra/
deploys), which asks Vision (the in-process stand-in, answering after a stated latency) and publishes
its result to `ai-service-image-labeled`, where a streaming-pull subscriber receives it. The latency runs
from just before `publish()` to the subscriber's callback.

Two references share the emulator, the subscriber, the clients and the machine load in the same run, in
alternating blocks:
- the **floor**: the same path with the floor function (`bench/floor.py`) behind its own push
  subscription, a function that makes the same two RPCs (Vision at the same latency, then a
  real-sized Publish) and nothing else. The ratio function / floor is what our code adds to the path.
- the emulator's own **round trip**: publish, then streaming pull of the same topic, no push, no
  function. Twice that plus Vision's latency is the least any push-based design could take here.

One message is in flight at a time: this is latency, not throughput (that is the concurrency block).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient, subscriber
from google.cloud.pubsub_v1 import types as pubsub_types

from bench.floor import SOURCE_ATTRIBUTE
from bench.processes import FLOOR_FUNCTION_SOURCE, ServerProcess
from bench.scenarios import summary
from infra.settings import NEW_IMAGE_TOPIC  # infra/settings.py: the cross-team topic name
from ops.emulators import PubSubEmulator, emulator_environment

FLOOR_TOPIC = "bench-floor-new-image"
ROUND_TRIP_TOPIC = "bench-round-trip"
RESULTS_SUBSCRIPTION = "bench-results"  # what the User-Service's subscription does, on the results
ACK_DEADLINE_SECONDS = (
    60  # every delivery here succeeds at once; the stack's retry policy never acts
)
RESULT_TIMEOUT_SECONDS = 60.0
KINDS = ("function", "floor", "round_trip")
Progress = Callable[[int, int], None]


class Receipts:
    """When (perf_counter) each message arrived at a subscriber, by the id of the message it answers."""

    def __init__(self) -> None:
        self._arrived: dict[str, float] = {}
        self._condition = threading.Condition()
        self.not_labeled: list[
            str
        ] = []  # results that were not `labeled`: the run measured the wrong thing

    def callback(self, message: subscriber.message.Message) -> None:
        arrived = time.perf_counter()
        message.ack()
        key = message.attributes.get(SOURCE_ATTRIBUTE)  # the floor function's results
        status = message.attributes.get("status")
        if status != "labeled" and (key is not None or status is not None):
            self.not_labeled.append(f"{status}: {message.data[:300]!r}")
        if key is None and status is not None:  # the function's results
            key = json.loads(message.data).get("source_message_id")
        if key is None:  # the round trip: the message itself
            key = message.message_id
        with self._condition:
            self._arrived.setdefault(str(key), arrived)  # a redelivered copy is not a later arrival
            self._condition.notify_all()

    def wait(self, key: str, timeout: float = RESULT_TIMEOUT_SECONDS) -> float:
        deadline = time.monotonic() + timeout
        with self._condition:
            while key not in self._arrived:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no result for message {key} within {timeout:.0f} s")
                self._condition.wait(remaining)
            return self._arrived[key]


def measure(
    environment: dict[str, str],
    *,
    uri: str,
    path: str,
    events: int,
    warmup: int,
    block: int = 25,
    progress: Progress | None = None,
) -> dict[str, list[float]]:
    """Publish-to-arrival seconds per kind. `environment`: the function's, Vision pointed at a stand-in
    already answering at the stated latency; Pub/Sub is pointed here at an emulator of its own."""
    with ExitStack() as stack:
        emulator = stack.enter_context(PubSubEmulator())
        project = environment["PROJECT_ID"]
        env = {**environment, "PUBSUB_EMULATOR_HOST": emulator.host}
        function = stack.enter_context(ServerProcess(env))
        floor = stack.enter_context(
            ServerProcess(
                {**env, "BENCH_FLOOR_URI": uri}, target="floor", source=FLOOR_FUNCTION_SOURCE
            )
        )
        with emulator_environment(pubsub=emulator.host):
            # One message per publish, sent at once (as labeling/publisher.py): the default batch
            # waits 10 ms for company.
            batch = pubsub_types.BatchSettings(max_messages=1, max_latency=float("inf"))
            publisher = PublisherClient(batch_settings=batch)
            subscriptions = SubscriberClient()
        stack.callback(subscriptions.close)
        stack.callback(publisher.stop)
        topics = {
            "function": publisher.topic_path(project, NEW_IMAGE_TOPIC),
            "floor": publisher.topic_path(project, FLOOR_TOPIC),
            "round_trip": publisher.topic_path(project, ROUND_TRIP_TOPIC),
        }
        labeled = publisher.topic_path(project, environment["TOPIC_ID"])
        for topic in (*topics.values(), labeled):
            publisher.create_topic(name=topic)
        for kind, endpoint in (("function", function.url), ("floor", floor.url)):
            subscriptions.create_subscription(
                name=subscriptions.subscription_path(project, f"bench-push-{kind}"),
                topic=topics[kind],
                push_config={"push_endpoint": endpoint},
                ack_deadline_seconds=ACK_DEADLINE_SECONDS,
            )
        receipts = Receipts()
        for name, topic in (
            (RESULTS_SUBSCRIPTION, labeled),
            ("bench-pull-round-trip", topics["round_trip"]),
        ):
            subscription = subscriptions.subscription_path(project, name)
            subscriptions.create_subscription(
                name=subscription, topic=topic, ack_deadline_seconds=ACK_DEADLINE_SECONDS
            )
            future = subscriptions.subscribe(subscription, receipts.callback)
            stack.callback(future.cancel)

        counter = iter(range(1, 1 << 62))

        def one(kind: str) -> float:
            data = json.dumps({"id": next(counter), "path": path}).encode()
            before = time.perf_counter()
            message_id = publisher.publish(topics[kind], data).result(timeout=30)
            return receipts.wait(message_id) - before

        for _ in range(warmup):
            for kind in KINDS:
                one(kind)
        latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for start in range(0, events, block):
            for kind in KINDS:
                latencies[kind].extend(one(kind) for _ in range(min(block, events - start)))
            if progress is not None:
                progress(min(start + block, events), events)
        _check_output(function, "function")
        _check_output(floor, "floor function")
        if receipts.not_labeled:
            raise RuntimeError(f"results that are not `labeled`: {receipts.not_labeled[:3]}")
        return latencies


def _check_output(server: ServerProcess, what: str) -> None:
    """A server that answered 500 somewhere was retried, and its latency would hide it."""
    output = server.output()
    if '"status":"retry"' in output or "Traceback" in output:
        raise RuntimeError(f"the {what} failed an event during the measurement:\n{output[-2000:]}")


def metrics(latencies: dict[str, list[float]], vision_latency: float) -> dict[str, Any]:
    function = summary(latencies["function"])
    floor = summary(latencies["floor"])
    round_trip = summary(latencies["round_trip"])
    least = 2 * round_trip["median_ms"] + vision_latency * 1000
    return {
        "vision_latency_ms": vision_latency * 1000,
        "function": function,
        "floor": floor,
        "emulator_round_trip": round_trip,
        "ratio_median": function["median_ms"] / floor["median_ms"],
        "ratio_p99": function["p99_ms"] / floor["p99_ms"],
        "two_round_trips_plus_vision_ms": least,
        "ratio_median_vs_two_round_trips_plus_vision": function["median_ms"] / least,
    }
