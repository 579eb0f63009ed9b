"""Vision and Pub/Sub fail or stall on a quarter of their RPCs; Pub/Sub redelivers what was not acked.

The promise under test: every valid message ends with exactly one kind of result, the right one for its
input, after a handful of deliveries at most; bad messages are acknowledged at once; and a message that
can never succeed is dead-lettered after maxDeliveryAttempts instead of looping.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.grpc_server import Faults
from tests.fakes.redelivery import ACK_STATUSES, DEFAULT_MAX_DELIVERY_ATTEMPTS, Redeliverer
from tests.fakes.vision import CAT_LABELS, FakeImage
from tests.function.conftest import BUCKET, uri
from tests.reliability.conftest import SHAPES, Event, Stack, event, running_stack

EVENTS = 400
# Client-side budgets (VISION_TIMEOUT_SECONDS / PUBLISH_TIMEOUT_SECONDS) and a stall beyond them.
TIMEOUT_SECONDS = 0.5
STALL_SECONDS = 0.8
FAILURE_RATE = 0.20  # UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED
STALL_RATE = 0.0625  # of the rest: 0.20 + 0.80 * 0.0625 = 25% of RPCs misbehave
MAX_DELIVERY_ATTEMPTS = 10
HANDFUL = 5


@dataclass(frozen=True)
class Expected:
    """The terminal result an input deserves; status None means no result (dropped, no id)."""

    status: str | None
    error_code: str | None = None
    matched: bool = False


@dataclass(frozen=True)
class Case:
    kind: str
    image_id: int | str | None
    message_id: str
    payload: Any
    expected: Expected


def cases(count: int) -> list[Case]:
    """A mix of good images, images Vision refuses, bad paths and unreadable messages."""
    kinds = itertools.cycle(
        [
            "bicycle",
            "cat",
            "bicycle",
            "missing",
            "not_found",
            "not_image",
            "foreign",
            "control_char",
            "no_path",
            "not_json",
            "no_id",
        ]
    )
    made = []
    for number, kind in zip(range(count), kinds, strict=False):
        image_id: int | str = number if number % 2 else f"image-{number}"
        path = f"uploads/{kind}-{number}.jpg"
        payload: Any = {"id": image_id, "path": path}
        expected = {
            "bicycle": Expected("labeled", matched=True),
            "cat": Expected("labeled"),
            "missing": Expected("failed", "IMAGE_UNREADABLE"),
            "not_found": Expected("failed", "IMAGE_NOT_FOUND"),
            "not_image": Expected("failed", "NOT_AN_IMAGE"),
            "foreign": Expected("failed", "FOREIGN_BUCKET"),
            "control_char": Expected("failed", "INVALID_PATH"),
            "no_path": Expected("failed", "MISSING_PATH"),
            "not_json": Expected(None),
            "no_id": Expected(None),
        }[kind]
        if kind == "foreign":
            payload["path"] = f"gs://someone-elses-bucket/{path}"
        elif kind == "control_char":
            payload["path"] = f"uploads/{number}\u0007.jpg"
        elif kind == "no_path":
            del payload["path"]
        elif kind == "not_json":
            payload = b'{"id": 1, "path": '
        elif kind == "no_id":
            del payload["id"]
        made.append(
            Case(
                kind,
                image_id if expected.status else None,
                f"9{number:06d}",
                payload,
                expected,
            )
        )
    return made


def register_images(stack: Stack, all_cases: list[Case]) -> None:
    images = {
        "bicycle": FakeImage(),
        "cat": FakeImage(labels=CAT_LABELS),
        "not_found": FakeImage(error_code=5, error_message="Object not found."),
        "not_image": FakeImage(error_code=3, error_message="Bad image data."),
    }
    for case in all_cases:
        if case.kind in images:
            stack.vision.add_image(uri(case.payload["path"]), images[case.kind])


def results_by_id(stack: Stack) -> dict[int | str, list[dict[str, Any]]]:
    grouped: dict[int | str, list[dict[str, Any]]] = defaultdict(list)
    for result in stack.results():
        grouped[result["id"]].append(result)
    return grouped


def without_processed_at(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "processed_at"}


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
    all_cases = cases(EVENTS)
    register_images(stack, all_cases)
    events = [
        event(case.payload, SHAPES[index % 2], case.message_id, label=case.kind)
        for index, case in enumerate(all_cases)
    ]
    redeliverer: Redeliverer[Event] = Redeliverer(
        stack.deliver,
        max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
        concurrency=16,
        backoff_seconds=lambda attempt: 0.01 * attempt,
    )

    report = redeliverer.run(events)
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

    grouped = results_by_id(stack)
    expected_ids = {case.image_id for case in all_cases if case.expected.status}
    assert set(grouped) == expected_ids, "results for unknown ids, or ids without a result"
    duplicates = 0
    for case in all_cases:
        if case.expected.status is None or case.image_id is None:
            continue
        found = grouped[case.image_id]
        duplicates += len(found) - 1
        first = found[0]
        assert all(without_processed_at(other) == without_processed_at(first) for other in found), (
            f"{case.kind} {case.image_id}: redeliveries disagree: {found}"
        )
        assert first["status"] == case.expected.status, (case.kind, first)
        assert (first.get("error") or {}).get("code") == case.expected.error_code, (case, first)
        assert first["match"]["matched"] is case.expected.matched, (case.kind, first)
        assert first["source_message_id"] == case.message_id
    print(f"duplicate results (a publish that timed out but landed): {duplicates}")
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
