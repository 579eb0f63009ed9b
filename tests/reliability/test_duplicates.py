"""At-least-once delivery: the same message delivered again, after the first or at the same time, gets
the same result (only processed_at may differ), whatever that result is."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from bench.fakes.vision import CAT_LABELS, FakeImage
from tests.function.conftest import uri
from tests.reliability.conftest import SHAPES, Stack, event, running_stack
from tests.reliability.workload import without_processed_at

CONCURRENT_COPIES = 8
PAYLOADS: dict[str, Any] = {
    "labeled, matched": {"id": 1, "path": "bike.jpg"},
    "labeled, not matched": {"id": "cat-2", "path": "cat.jpg"},
    "failed, image missing": {"id": 3, "path": "nowhere.jpg"},
    "failed, not an image": {"id": 4, "path": "notes.txt"},
    "failed, foreign bucket": {"id": 5, "path": "gs://other-bucket/bike.jpg"},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack() as running:
        running.vision.add_image(uri("bike.jpg"))
        running.vision.add_image(uri("cat.jpg"), FakeImage(labels=CAT_LABELS))
        running.vision.add_image(uri("notes.txt"), FakeImage(error_code=3, error_message="Bad"))
        yield running


def results_for(stack: Stack, image_id: object) -> list[dict[str, Any]]:
    return [result for result in stack.results() if result["id"] == image_id]


def assert_identical(results: list[dict[str, Any]], copies: int) -> None:
    assert len(results) == copies, f"one result per delivery expected, got {len(results)}"
    first = without_processed_at(results[0])
    assert all(without_processed_at(result) == first for result in results[1:]), results


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", PAYLOADS)
def test_a_message_delivered_twice_in_a_row_gets_identical_results(
    stack: Stack, case: str, shape: str
) -> None:
    payload = {**PAYLOADS[case], "id": f"{PAYLOADS[case]['id']}-{shape}-sequential"}
    delivery = event(payload, shape, message_id=str(zlib.crc32(payload["id"].encode())))

    statuses = [stack.deliver(delivery), stack.deliver(delivery)]

    assert statuses == [200, 200]
    assert_identical(results_for(stack, payload["id"]), copies=2)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", PAYLOADS)
def test_a_message_delivered_concurrently_gets_identical_results(
    stack: Stack, case: str, shape: str
) -> None:
    payload = {**PAYLOADS[case], "id": f"{PAYLOADS[case]['id']}-{shape}-concurrent"}
    delivery = event(payload, shape, message_id=str(zlib.crc32(payload["id"].encode())))
    start = threading.Barrier(CONCURRENT_COPIES)
    statuses: list[int] = []

    def deliver() -> None:
        start.wait()
        statuses.append(stack.deliver(delivery))

    threads = [threading.Thread(target=deliver) for _ in range(CONCURRENT_COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [200] * CONCURRENT_COPIES
    assert_identical(results_for(stack, payload["id"]), copies=CONCURRENT_COPIES)
