"""Vision and Pub/Sub fail or stall on a quarter of their RPCs; Pub/Sub redelivers what was not acked.

The promise under test: every valid message ends with exactly one kind of result, the right one for its
input, after a handful of deliveries at most; bad messages are acknowledged at once; and a message that
can never succeed is dead-lettered after maxDeliveryAttempts instead of looping.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.fakes.grpc_server import Faults
from bench.fakes.vision import FakeImage
from tests.fakes.redelivery import ACK_STATUSES, DEFAULT_MAX_DELIVERY_ATTEMPTS, Redeliverer
from tests.function.conftest import BUCKET, uri
from tests.reliability.conftest import Event, Stack, event, running_stack
from tests.reliability.workload import check_terminal_results, events, make_cases, register_images

EVENTS = 400
# Client-side budgets (VISION_TIMEOUT_SECONDS / PUBLISH_TIMEOUT_SECONDS) and a stall beyond them.
TIMEOUT_SECONDS = 0.5
STALL_SECONDS = 0.8
FAILURE_RATE = 0.20  # UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED
STALL_RATE = 0.0625  # of the rest: 0.20 + 0.80 * 0.0625 = 25% of RPCs misbehave
MAX_DELIVERY_ATTEMPTS = 10
HANDFUL = 5


@pytest.fixture(scope="module")
def faulty_stack() -> Iterator[Stack]:
    def faults(seed: int) -> Faults:
        return Faults(
            failure_rate=FAILURE_RATE,
            slow_rate=STALL_RATE,
            slow_seconds=STALL_SECONDS,
            seed=seed,
        )

    with running_stack(
        vision_faults=faults(1),
        pubsub_faults=faults(2),
        VISION_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        PUBLISH_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
    ) as stack:
        yield stack


def test_with_a_quarter_of_rpcs_failing_every_event_ends_with_the_right_result(
    faulty_stack: Stack,
) -> None:
    stack = faulty_stack
    cases = make_cases(EVENTS)
    register_images(stack.vision, cases)
    redeliverer: Redeliverer[Event] = Redeliverer(
        stack.deliver,
        max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
        concurrency=16,
        backoff_seconds=lambda attempt: 0.01 * attempt,
    )

    report = redeliverer.run(events(cases))
    # A publish that timed out client-side may still land: let stragglers arrive before counting.
    stack.pubsub.wait_for(10**9, timeout=STALL_SECONDS + 0.5)

    vision_calls = len(stack.vision.requests)
    print(
        f"\nfaults: {report.summary()}; injected {stack.vision.faults.injected} Vision faults in "
        f"{vision_calls} calls, {stack.pubsub.faults.injected} Publish faults in "
        f"{stack.pubsub.publish_calls} calls"
    )
    assert report.dead_lettered == [], "events never acknowledged within the attempts"
    assert set(report.status_counts) <= ACK_STATUSES | {500}, report.status_counts
    assert report.status_counts[500] > 0, "no delivery was retried: the faults did not bite"
    assert report.max_attempts <= HANDFUL, report.summary()
    # The faults were really there, at about the configured share.
    assert stack.vision.faults.injected >= 0.15 * vision_calls
    assert stack.pubsub.faults.injected >= 0.15 * stack.pubsub.publish_calls
    duplicates = check_terminal_results(cases, stack.results())
    print(f"duplicate results (a publish timed out client-side but landed): {duplicates}")
    assert all(
        requested.startswith(f"gs://{BUCKET}/") for requested in stack.vision.requested_uris()
    )


def test_a_message_that_can_never_succeed_is_dead_lettered_after_the_attempts_not_looped() -> None:
    # Vision answers a transient per-image error (14 UNAVAILABLE) for this image, every time.
    with running_stack(VISION_TIMEOUT_SECONDS="0.5", PUBLISH_TIMEOUT_SECONDS="0.5") as stack:
        stack.vision.add_image(uri("stuck.jpg"), FakeImage(error_code=14, error_message="down"))
        redeliverer: Redeliverer[Event] = Redeliverer(
            stack.deliver, max_delivery_attempts=DEFAULT_MAX_DELIVERY_ATTEMPTS
        )

        report = redeliverer.run([event({"id": 7, "path": "stuck.jpg"}, "push", "77")])

        [record] = report.records
        assert record.statuses == [500] * DEFAULT_MAX_DELIVERY_ATTEMPTS
        assert report.dead_lettered == [record]
        assert stack.results() == [], "a transient failure must never be reported as a result"
