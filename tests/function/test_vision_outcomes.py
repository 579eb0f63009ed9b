"""What Vision says decides the outcome: image faults are `failed` and acknowledged; anything that is
not the message's fault is retried (HTTP 5xx) with nothing published."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest
from flask import Flask

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeImage, FakeVision
from tests.function.conftest import Deliver, only_result, results, uri


@pytest.mark.parametrize(
    ("vision_code", "vision_message", "code"),
    [
        (7, "Error opening file: gs://test-images/missing.jpg.", "IMAGE_UNREADABLE"),
        (5, "Object not found.", "IMAGE_NOT_FOUND"),
        (3, "Bad image data.", "NOT_AN_IMAGE"),
    ],
)
def test_an_unusable_image_gets_a_failed_result_and_is_acknowledged(
    deliver: Deliver,
    vision: FakeVision,
    pubsub: FakePubSub,
    vision_code: int,
    vision_message: str,
    code: str,
) -> None:
    vision.add_image(uri("x.jpg"), FakeImage(error_code=vision_code, error_message=vision_message))

    assert deliver({"id": 11, "path": "x.jpg"}) == 200

    result, published = only_result(pubsub)
    assert result["status"] == "failed"
    assert result["error"] == {"code": code, "message": vision_message}
    assert result["uri"] == uri("x.jpg")
    assert result["path"] == "x.jpg"
    assert result["labels"] == []
    assert result["match"]["matched"] is False
    assert published.attributes == {"id": "11", "status": "failed", "matched": "false"}


def test_an_object_that_does_not_exist_fails_as_unreadable(
    deliver: Deliver, pubsub: FakePubSub
) -> None:
    assert deliver({"id": 12, "path": "never-uploaded.jpg"}) == 200

    result, _ = only_result(pubsub)
    assert result["error"]["code"] == "IMAGE_UNREADABLE"


@pytest.mark.parametrize("vision_code", [14, 4, 8, 13, 16, 2])
def test_a_transient_per_image_error_is_retried_and_nothing_is_published(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub, vision_code: int
) -> None:
    vision.add_image(uri("x.jpg"), FakeImage(error_code=vision_code, error_message="try later"))

    assert deliver({"id": 13, "path": "x.jpg"}) == 500

    assert results(pubsub) == []
    assert pubsub.publish_calls == 0


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
    ],
)
def test_a_passing_vision_outage_is_retried_within_the_invocation(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub, code: grpc.StatusCode
) -> None:
    vision.add_image(uri("bike.jpg"))
    vision.faults.fail_next(code, code)

    assert deliver({"id": 14, "path": "bike.jpg"}) == 200

    result, _ = only_result(pubsub)
    assert result["status"] == "labeled"
    assert len(vision.requests) == 3


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
    ],
)
def test_a_lasting_vision_error_is_retried_by_redelivery_and_nothing_is_published(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    code: grpc.StatusCode,
) -> None:
    function_env["VISION_TIMEOUT_SECONDS"] = "1"
    vision.add_image(uri("bike.jpg"))
    vision.faults.failure_rate = 1.0
    vision.faults.codes = (code,)
    deliver = Deliver(make_app().test_client(), "push")

    started = time.monotonic()
    assert deliver({"id": 15, "path": "bike.jpg"}) == 500
    elapsed = time.monotonic() - started

    assert results(pubsub) == []
    assert elapsed < 5, f"the Vision budget is 1 s, the invocation took {elapsed:.1f} s"


def test_vision_slower_than_its_timeout_is_retried_not_failed(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
) -> None:
    function_env["VISION_TIMEOUT_SECONDS"] = "0.5"
    vision.add_image(uri("bike.jpg"))
    vision.faults.latency_seconds = 2.0
    deliver = Deliver(make_app().test_client(), "push")

    started = time.monotonic()
    assert deliver({"id": 16, "path": "bike.jpg"}) == 500
    elapsed = time.monotonic() - started

    assert results(pubsub) == []
    assert elapsed < 2.0, f"the Vision budget is 0.5 s, the invocation took {elapsed:.1f} s"


def test_a_passing_publish_outage_is_retried_within_the_invocation(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("bike.jpg"))
    pubsub.faults.fail_next(grpc.StatusCode.UNAVAILABLE)

    assert deliver({"id": 17, "path": "bike.jpg"}) == 200

    result, _ = only_result(pubsub)
    assert result["status"] == "labeled"
    assert pubsub.publish_calls == 2


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED],
)
def test_a_result_that_cannot_be_published_is_retried_by_redelivery(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    code: grpc.StatusCode,
) -> None:
    function_env["PUBLISH_TIMEOUT_SECONDS"] = "1"
    vision.add_image(uri("bike.jpg"))
    pubsub.faults.failure_rate = 1.0
    pubsub.faults.codes = (code,)
    deliver = Deliver(make_app().test_client(), "push")

    assert deliver({"id": 18, "path": "bike.jpg"}) == 500

    assert results(pubsub) == []


def test_a_failed_result_that_cannot_be_published_is_retried_too(
    make_app: Callable[[], Flask], function_env: dict[str, str], pubsub: FakePubSub
) -> None:
    function_env["PUBLISH_TIMEOUT_SECONDS"] = "1"
    pubsub.faults.failure_rate = 1.0
    deliver = Deliver(make_app().test_client(), "push")

    assert deliver({"id": 19, "path": "gs://other/x.jpg"}) == 500

    assert results(pubsub) == []


def test_a_redelivered_message_gets_the_same_result(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("bike.jpg"))

    assert deliver({"id": 20, "path": "bike.jpg"}, message_id="m-20") == 200
    assert deliver({"id": 20, "path": "bike.jpg"}, message_id="m-20") == 200

    first, second = results(pubsub)
    first.pop("processed_at")
    second.pop("processed_at")
    assert first == second
