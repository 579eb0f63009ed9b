"""Delivery on the real emulator: topic -> push subscription -> functions-framework -> results topic.

Every test publishes to the real user-service-new-image topic of its own emulator project, provisioned
from infra/topology.py as `make local` does; the emulator pushes to the function (through a recorder
that sees the wire), and results are pulled from user-service-image-labeled like the User-Service.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from bench.fakes.vision import CAT_LABELS, FakeImage
from tests.e2e.conftest import Pipeline

UNAVAILABLE = 14  # google.rpc.Code: per-image, Vision says try again; the function raises

pytestmark = pytest.mark.slow  # starts functions-framework processes


def test_a_new_image_reaches_the_function_by_real_push_and_its_result_reaches_the_user_service(
    pipeline: Pipeline,
) -> None:
    uri = pipeline.image("image-01.jpg")
    data = pipeline.publish({"id": 1, "path": "image-01.jpg"})

    results = pipeline.results(1)

    assert len(results) == 1, "one result for one message"
    result = results[0]
    assert (result["id"], result["path"], result["uri"], result["status"]) == (
        1,
        "image-01.jpg",
        uri,
        "labeled",
    )
    assert result["match"]["matched"] is True
    assert [label["description"] for label in result["labels"]][:2] == ["Bicycle", "Wheel"]
    # What arrived at the function is Pub/Sub's push format, sent by the emulator itself.
    [push] = pipeline.recorder.of(data)
    assert 200 <= push.status < 300, push.status
    assert push.headers["content-type"].startswith("application/json")
    body = push.json()
    assert body["subscription"] == pipeline.push_subscription
    assert base64.b64decode(body["message"]["data"]) == data
    assert body["message"]["messageId"]
    assert body["message"]["publishTime"]
    assert result["source_message_id"] == body["message"]["messageId"]


def test_the_result_message_carries_the_contract_attributes(pipeline: Pipeline) -> None:
    pipeline.image("house.jpg", FakeImage(labels=CAT_LABELS))
    pipeline.publish({"id": "ride-7", "path": "house.jpg"})

    [received] = pipeline.pull(pipeline.results_subscription, 1)

    assert dict(received.message.attributes) == {
        "id": "ride-7",
        "status": "labeled",
        "matched": "false",
    }


def test_a_message_that_keeps_failing_is_dead_lettered_after_max_delivery_attempts(
    pipeline: Pipeline,
) -> None:
    pipeline.image("flaky.jpg", FakeImage(error_code=UNAVAILABLE, error_message="try again"))
    attempts = pipeline.declared.push_subscription.dead_letter_policy
    assert attempts is not None
    data = pipeline.publish({"id": 9, "path": "flaky.jpg"})

    [dead] = pipeline.pull(pipeline.dead_letter_subscription, 1, timeout=60)

    assert dead.message.data == data
    attributes = dict(dead.message.attributes)
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == str(
        attempts.max_delivery_attempts
    )
    assert attributes["CloudPubSubDeadLetterSourceSubscription"] in (
        pipeline.declared.push_subscription.name,
        pipeline.push_subscription,
    )
    assert attributes["CloudPubSubDeadLetterSourceSubscriptionProject"] == pipeline.project
    assert attributes["CloudPubSubDeadLetterSourceTopicPublishTime"]
    pushes = pipeline.recorder.of(data)
    assert len(pushes) == attempts.max_delivery_attempts
    assert all(push.status >= 500 for push in pushes), [push.status for push in pushes]
    assert pipeline.pull(pipeline.results_subscription, 1, timeout=1) == [], "nothing published"


def test_bad_messages_are_acknowledged_and_never_redelivered(pipeline: Pipeline) -> None:
    not_json = pipeline.publish(b"this is not JSON")
    no_id = pipeline.publish({"path": "image-01.jpg"})
    no_path = pipeline.publish({"id": 12})

    for data in (not_json, no_id, no_path):
        assert len(pipeline.recorder.wait_for(data, 1, timeout=30)) == 1
    # Only the one with an id can be answered: a failed result says what was wrong.
    [answer] = pipeline.results(1)
    assert (answer["id"], answer["status"]) == (12, "failed")
    # Redeliveries would come within the 0-1 s backoff: wait several of them.
    assert pipeline.pull(pipeline.dead_letter_subscription, 1, timeout=3) == []
    for data in (not_json, no_id, no_path):
        pushes = pipeline.recorder.of(data)
        assert len(pushes) == 1, f"{data!r} was delivered {len(pushes)} times"
        assert 200 <= pushes[0].status < 300, (data, pushes[0].status)


def test_duplicates_are_harmless(pipeline: Pipeline) -> None:
    pipeline.image("twice.jpg")
    message = {"id": 5, "path": "twice.jpg"}
    first = pipeline.publish(message)
    pipeline.publish(message)  # the User-Service announcing the same image again
    [push] = pipeline.recorder.wait_for(first, 2, timeout=30)[:1]
    # Pub/Sub redelivering the very same message (same messageId), as at-least-once allows.
    replay = requests.post(
        pipeline.function.url,
        data=push.body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    results = pipeline.results(3)

    assert 200 <= replay.status_code < 300
    assert len(results) == 3
    assert {result["id"] for result in results} == {5}
    assert {result["status"] for result in results} == {"labeled"}
    comparable = [{k: v for k, v in r.items() if k != "processed_at"} for r in results]
    assert len({json.dumps(item, sort_keys=True) for item in comparable}) <= 2, (
        "identical apart from processed_at (and the source message id of the second publish)"
    )
    replayed = [r for r in results if r["source_message_id"] == push.message_id]
    assert len(replayed) == 2
    assert pipeline.pull(pipeline.dead_letter_subscription, 1, timeout=1) == []
