"""Outages, not coin flips: Vision or Pub/Sub down or hung for seconds, the result topic deleted and
recreated, Pub/Sub stopped and restarted on its address, all under long-lived functions-framework
processes (one for the wire-fake scenarios, one per emulator scenario).

After each outage:
- every event that arrives after recovery gets its correct result on its first delivery, from the
  same instance;
- every event delivered during the outage is answered 5xx, and gets its result on redelivery;
- no delivery is acknowledged (2xx) unless its result is already on the result topic.

Real outages are correlated and last longer than the 2 s in-call retry; the per-call faults of
test_faults.py are what that retry absorbs. Durations here make the outages real, they are never
asserted: timings belong in bench/.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import requests
from google.api_core import exceptions as api_exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from bench.fakes.grpc_server import GrpcFakeServer
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import CAT_LABELS, FakeImage, FakeVision
from ops.emulators import PubSubEmulator, pubsub_clients
from ops.function_server import FunctionServer
from tests.fakes.environment import TOPIC, function_environment
from tests.fakes.redelivery import ACK_STATUSES, Redeliverer
from tests.function.conftest import TOPIC_PATH, uri
from tests.reliability.conftest import SHAPES, Event, Stack, event, running_stack
from tests.reliability.workload import Case, Expected, check_terminal_results, without_processed_at

pytestmark = [
    pytest.mark.slow,
    # The emulator honours return_immediately (an empty pull answers at once); Google deprecates it.
    pytest.mark.filterwarnings(
        "ignore:The return_immediately flag is deprecated:DeprecationWarning"
    ),
]

OUTAGE_SECONDS = 4.0  # longer than the in-call retry (2 s): deliveries during it must fail
TIMEOUT_SECONDS = (
    2.0  # VISION_TIMEOUT_SECONDS and PUBLISH_TIMEOUT_SECONDS: the in-call retry gets its 2 s
)
EVENTS = 8  # per phase: before, during and after the outage
# A peer down this long has grown gRPC's default reconnect backoff (1, 1.6, 2.6, 4.1 s, ...) past the
# in-call retry: without the cap in labeling/clients.py, the first events after its return fail.
RESTART_OUTAGE_SECONDS = 12.0
MAX_DELIVERY_ATTEMPTS = 10
REDELIVERY_BACKOFF_SECONDS = 0.5

# Every kind needs both Vision and the publish, so an outage of either must turn it into a 5xx.
KINDS: dict[str, tuple[FakeImage | None, Expected]] = {
    "bicycle": (FakeImage(), Expected("labeled", matched=True)),
    "cat": (FakeImage(labels=CAT_LABELS), Expected("labeled")),
    "missing": (None, Expected("failed", "IMAGE_UNREADABLE")),
    "not_image": (FakeImage(error_code=3, error_message="Bad"), Expected("failed", "NOT_AN_IMAGE")),
}
_numbers = itertools.count(1)


def new_cases(vision: FakeVision, phase: str, count: int = EVENTS) -> list[Case]:
    """Cases with ids no other phase uses; their images registered with the Vision fake."""
    cases = []
    for kind, (image, expected) in itertools.islice(itertools.cycle(KINDS.items()), count):
        number = next(_numbers)
        path = f"outages/{phase}-{kind}-{number}.jpg"
        if image is not None:
            vision.add_image(uri(path), image)
        payload = {"id": f"{phase}-{number}", "path": path}
        cases.append(Case(kind, payload["id"], str(7_000_000 + number), payload, expected))
    return cases


def deliveries(cases: Sequence[Case]) -> list[Event]:
    """Both delivery shapes, alternating; each labelled with its image id."""
    return [
        event(case.payload, SHAPES[index % 2], case.message_id, label=str(case.image_id))
        for index, case in enumerate(cases)
    ]


@dataclass
class Instance:
    """One running function process and a way to see which results reached the topic."""

    server: FunctionServer
    vision: FakeVision
    results: Callable[[], list[dict[str, Any]]]
    acknowledged_without_result: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, delivery: Event) -> int:
        """POST like a push subscription; a 2xx must find the event's result already published."""
        response = requests.post(
            self.server.url, headers=delivery.headers, data=delivery.body, timeout=30
        )
        acknowledged = response.status_code in ACK_STATUSES
        if acknowledged and not any(result["id"] == delivery.label for result in self.results()):
            with self._lock:
                self.acknowledged_without_result.append(delivery.label)
        return response.status_code

    def deliver_once(self, cases: Sequence[Case]) -> list[int]:
        """Each case delivered once, all at the same time."""
        with ThreadPoolExecutor(len(cases)) as pool:
            return list(pool.map(self.send, deliveries(cases)))

    def deliver_until_acknowledged(self, cases: Sequence[Case]) -> list[list[int]]:
        redeliverer: Redeliverer[Event] = Redeliverer(
            self.send,
            max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
            concurrency=len(cases),
            backoff_seconds=lambda attempt: REDELIVERY_BACKOFF_SECONDS,
        )
        return [record.statuses for record in redeliverer.run(deliveries(cases)).records]


def run_outage(
    instance: Instance,
    phase: str,
    begin: Callable[[], object],
    end: Callable[[], object],
    seconds: float = OUTAGE_SECONDS,
) -> None:
    """Events before, during and after one outage of at least `seconds`; the three promises."""
    before = new_cases(instance.vision, f"{phase}-before")
    assert instance.deliver_once(before) == [200] * len(before), instance.server.output()[-3000:]

    begin()
    started = time.monotonic()
    during = new_cases(instance.vision, f"{phase}-during")
    during_statuses = instance.deliver_once(during)
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    end()

    after = new_cases(instance.vision, f"{phase}-after")
    after_statuses = [instance.send(delivery) for delivery in deliveries(after)]
    redelivered = instance.deliver_until_acknowledged(during)

    assert all(status >= 500 for status in during_statuses), f"during the outage: {during_statuses}"
    assert after_statuses == [200] * len(after), (
        f"first deliveries after recovery: {after_statuses}\n{_tail(instance)}"
    )
    assert all(statuses[-1] in ACK_STATUSES for statuses in redelivered), (
        f"redeliveries of the events sent during the outage: {redelivered}\n{_tail(instance)}"
    )
    assert instance.acknowledged_without_result == []
    mine = (before, during, after)
    ids = {case.image_id for cases in mine for case in cases}
    check_terminal_results(
        [case for cases in mine for case in cases],
        [result for result in instance.results() if result["id"] in ids],
    )


def _tail(instance: Instance) -> str:
    """The function's log lines for deliveries it answered 5xx after the outage."""
    failed = [
        line
        for line in instance.server.output().splitlines()
        if '"status":"retry"' in line and "-after-" in line
    ]
    return "the function's retry lines after the outage:\n" + "\n".join(failed[-10:])


# -- Vision and Pub/Sub outages, scripted on the wire fakes -------------------------------------


@dataclass
class FakeStack:
    instance: Instance
    vision_server: GrpcFakeServer
    pubsub: FakePubSub
    pubsub_server: GrpcFakeServer


@pytest.fixture(scope="module")
def fake_stack() -> Iterator[FakeStack]:
    """ONE function process for every wire-fake outage below, in the order they are written."""
    vision = FakeVision()
    pubsub = FakePubSub(known_topics={TOPIC_PATH})
    with ExitStack() as stack:
        vision_server = stack.enter_context(vision.server())
        pubsub_server = stack.enter_context(pubsub.server())
        env = function_environment(
            vision.host,
            pubsub.host,
            VISION_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
            PUBLISH_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        )
        server = stack.enter_context(FunctionServer(env))

        def results() -> list[dict[str, Any]]:
            return [message.json() for message in pubsub.messages(TOPIC_PATH)]

        yield FakeStack(Instance(server, vision, results), vision_server, pubsub, pubsub_server)


def test_vision_failing_every_call_for_seconds(fake_stack: FakeStack) -> None:
    faults = fake_stack.instance.vision.faults
    run_outage(fake_stack.instance, "vision-down", faults.start_outage, faults.end_outage)


def test_vision_hung_past_its_timeout_for_seconds(fake_stack: FakeStack) -> None:
    faults = fake_stack.instance.vision.faults
    run_outage(
        fake_stack.instance,
        "vision-hung",
        lambda: faults.start_outage(stall_seconds=TIMEOUT_SECONDS + 0.5),
        faults.end_outage,
    )


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ],
    ids=lambda code: code.name,
)
def test_every_publish_failing_for_seconds(fake_stack: FakeStack, code: grpc.StatusCode) -> None:
    faults = fake_stack.pubsub.faults
    run_outage(
        fake_stack.instance,
        f"publish-{code.name}",
        lambda: faults.start_outage(code=code),
        faults.end_outage,
    )


def test_every_publish_hung_past_its_timeout_for_seconds(fake_stack: FakeStack) -> None:
    """A publish whose future times out: the RPC is still in flight when the event answers 5xx."""
    faults = fake_stack.pubsub.faults
    run_outage(
        fake_stack.instance,
        "publish-hung",
        lambda: faults.start_outage(stall_seconds=TIMEOUT_SECONDS + 0.5),
        faults.end_outage,
    )


def test_vision_stopped_and_restarted_on_the_same_address(fake_stack: FakeStack) -> None:
    """Connections refused for seconds, then a new server on the same port: the channel reconnects."""
    server = fake_stack.vision_server
    run_outage(
        fake_stack.instance, "vision-restart", server.stop, server.start, RESTART_OUTAGE_SECONDS
    )


def test_pubsub_stopped_and_restarted_on_the_same_address_wire_fake(fake_stack: FakeStack) -> None:
    server = fake_stack.pubsub_server
    run_outage(fake_stack.instance, "pubsub-restart", server.stop, server.start)


# -- An earlier publish failure must not change how later deliveries are answered --------------


@pytest.fixture
def stack_after_a_failed_publish() -> Iterator[Stack]:
    with running_stack(
        VISION_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS), PUBLISH_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS)
    ) as stack:
        stack.vision.add_image(uri("bike.jpg"))
        stack.pubsub.faults.fail_next(grpc.StatusCode.NOT_FOUND)
        assert stack.deliver(event({"id": "poison", "path": "bike.jpg"}, "push", "1")) == 500
        yield stack


@pytest.mark.parametrize("shape", SHAPES)
def test_after_a_failed_publish_duplicate_and_concurrent_deliveries_get_identical_results(
    stack_after_a_failed_publish: Stack, shape: str
) -> None:
    """The held-out contract check's duplicate and concurrency cases, on an instance whose earlier
    publish failed (they failed exactly so before the publisher stopped keeping failed batches)."""
    stack = stack_after_a_failed_publish
    delivery = event({"id": f"dup-{shape}", "path": "bike.jpg"}, shape, "4242")

    sequential = [stack.deliver(delivery), stack.deliver(delivery)]
    start = threading.Barrier(8)

    def concurrent() -> int:
        start.wait()
        return stack.deliver(delivery)

    with ThreadPoolExecutor(8) as pool:
        concurrent_statuses = list(pool.map(lambda _: concurrent(), range(8)))

    assert sequential == [200, 200]
    assert concurrent_statuses == [200] * 8
    copies = [result for result in stack.results() if result["id"] == f"dup-{shape}"]
    assert len(copies) == 10
    assert all(without_processed_at(copy) == without_processed_at(copies[0]) for copy in copies)
    assert copies[0]["status"] == "labeled"
    assert copies[0]["match"]["matched"] is True


# -- On Google's real emulator: the result topic deleted and recreated, Pub/Sub restarted -------


@dataclass
class ResultTopic:
    """The result topic on the emulator, read through a pull subscription of its own."""

    publisher: PublisherClient
    subscriber: SubscriberClient
    topic: str
    collected: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self) -> None:
        """The result topic and a fresh pull subscription that sees what is published from now on."""
        self.publisher.create_topic(name=self.topic, timeout=10)
        subscription = self.subscriber.subscription_path(
            self.topic.split("/")[1], f"results-{len(self.subscriptions)}"
        )
        self.subscriber.create_subscription(name=subscription, topic=self.topic, timeout=10)
        self.subscriptions.append(subscription)

    def results(self) -> list[dict[str, Any]]:
        """Everything published to the result topic so far (pulled, acknowledged and kept)."""
        with self._lock:
            while self.subscriptions:
                try:
                    # The emulator honours return_immediately: an empty pull answers at once.
                    response = self.subscriber.pull(
                        subscription=self.subscriptions[-1],
                        max_messages=100,
                        return_immediately=True,
                        timeout=10,
                    )
                except api_exceptions.GoogleAPICallError:
                    break  # Pub/Sub is down (or the subscription gone): nothing more to see now
                if not response.received_messages:
                    break
                received = response.received_messages
                self.collected += [json.loads(item.message.data) for item in received]
                self.subscriber.acknowledge(
                    subscription=self.subscriptions[-1],
                    ack_ids=[item.ack_id for item in received],
                    timeout=10,
                )
            return list(self.collected)


@dataclass
class EmulatorStack:
    instance: Instance
    emulator: PubSubEmulator
    results: ResultTopic


@pytest.fixture
def emulator_stack(
    private_pubsub_emulator: PubSubEmulator, emulator_project: str
) -> Iterator[EmulatorStack]:
    vision = FakeVision()
    publisher, subscriber = pubsub_clients(private_pubsub_emulator.host)
    result_topic = ResultTopic(publisher, subscriber, publisher.topic_path(emulator_project, TOPIC))
    with ExitStack() as stack:
        stack.enter_context(vision.server())
        env = function_environment(
            vision.host,
            private_pubsub_emulator.host,
            PROJECT_ID=emulator_project,
            VISION_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
            PUBLISH_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        )
        server = stack.enter_context(FunctionServer(env))
        instance = Instance(server, vision, result_topic.results)
        result_topic.create()
        yield EmulatorStack(instance, private_pubsub_emulator, result_topic)


def test_result_topic_deleted_and_recreated_on_the_emulator(emulator_stack: EmulatorStack) -> None:
    stack = emulator_stack

    def delete() -> None:
        stack.results.results()  # keep what the old subscription has before it is detached
        stack.results.publisher.delete_topic(topic=stack.results.topic, timeout=10)

    run_outage(stack.instance, "topic-deleted", delete, stack.results.create)


def test_pubsub_stopped_and_restarted_on_the_same_address_emulator(
    emulator_stack: EmulatorStack,
) -> None:
    stack = emulator_stack
    address = stack.emulator.host

    def stop() -> None:
        stack.results.results()  # a stopped emulator forgets everything: keep what it has
        stack.emulator.stop()

    def restart() -> None:
        stack.emulator.start()
        assert stack.emulator.host == address
        stack.results.subscriptions.clear()
        stack.results.create()

    run_outage(stack.instance, "emulator-restart", stop, restart)


def test_push_subscription_delivers_through_a_result_topic_outage_on_the_emulator(
    emulator_stack: EmulatorStack,
) -> None:
    """End to end as deployed: the emulator pushes the User-Service's messages to the function while
    the result topic is deleted and recreated. Every message ends with its result, through Pub/Sub's
    own redelivery."""
    stack = emulator_stack
    project = stack.results.topic.split("/")[1]
    publisher, subscriber = stack.results.publisher, stack.results.subscriber
    requests_topic = publisher.topic_path(project, "user-service-new-image")
    publisher.create_topic(name=requests_topic, timeout=10)
    subscriber.create_subscription(
        request={
            "name": subscriber.subscription_path(project, "ai-service-image-labeling-push"),
            "topic": requests_topic,
            "push_config": {"push_endpoint": stack.instance.server.url},
            "ack_deadline_seconds": 10,
            # No retry policy: the emulator (0.8.20) then pushes again about every second. With one
            # (1 to 2 s backoff) it pushed 4 times in 7 s, then not again within 40 s.
        },
        timeout=10,
    )

    def publish(cases: Sequence[Case]) -> list[Case]:
        """Published as the User-Service does; each case with the message id Pub/Sub gave it."""
        published = []
        for case in cases:
            future = publisher.publish(requests_topic, json.dumps(case.payload).encode())
            message_id = future.result(timeout=10)
            published.append(
                Case(case.kind, case.image_id, message_id, case.payload, case.expected)
            )
        return published

    def wait_for(cases: Sequence[Case]) -> list[dict[str, Any]]:
        wanted = {case.image_id for case in cases}
        deadline = time.monotonic() + 120  # a bound on waiting, not a measured timing
        while time.monotonic() < deadline:
            found = [result for result in stack.results.results() if result["id"] in wanted]
            if {result["id"] for result in found} == wanted:
                return found
            time.sleep(0.2)
        missing = wanted - {result["id"] for result in found}
        lines = [
            line
            for line in stack.instance.server.output().splitlines()
            if any(f'"{image_id}"' in line for image_id in missing)
        ]
        raise AssertionError(
            f"no result for {sorted(map(str, missing))}; the function logged:\n"
            + "\n".join(lines[-20:])
        )

    before = publish(new_cases(stack.instance.vision, "push-before"))
    wait_for(before)

    stack.results.results()  # keep what the old subscription has before it is detached
    publisher.delete_topic(topic=stack.results.topic, timeout=10)
    during = publish(new_cases(stack.instance.vision, "push-during"))
    time.sleep(OUTAGE_SECONDS)
    stack.results.create()
    after = publish(new_cases(stack.instance.vision, "push-after"))

    check_terminal_results(before + during + after, wait_for(before + during + after))
