"""The function's event contract, driven through functions-framework in both delivery shapes.

Each test names the requirement it protects; every test asserts what the User-Service would observe on
ai-service-image-labeled, what Pub/Sub would observe (2xx = ack, 5xx = redeliver), and what Vision saw.
"""

from __future__ import annotations

import re

import pytest

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import CAT_LABELS, FakeImage, FakeVision
from tests.function.conftest import BUCKET, Deliver, only_result, uri

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def test_a_bicycle_photo_is_labeled_matched_and_acknowledged(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("image-01.jpg"))

    status = deliver({"id": 1, "path": "image-01.jpg"}, message_id="4242")

    assert status == 200
    result, published = only_result(pubsub)
    assert result["id"] == 1
    assert result["path"] == "image-01.jpg"
    assert result["uri"] == f"gs://{BUCKET}/image-01.jpg"
    assert result["status"] == "labeled"
    assert result["labels"][0] == {
        "description": "Bicycle",
        "score": 0.97,
        "mid": "/m/fake000",
        "topicality": 0.97,
    }
    assert result["match"]["matched"] is True
    assert result["match"]["label"] == "Bicycle"
    assert result["match"]["targets"] == ["Bicycle"]
    assert result["match"]["threshold"] == 0.5
    assert "error" not in result
    assert result["source_message_id"] == "4242"
    assert RFC3339_UTC.fullmatch(result["processed_at"])
    assert result["schema_version"]
    assert published.attributes == {"id": "1", "status": "labeled", "matched": "true"}
    assert vision.requested_uris() == [f"gs://{BUCKET}/image-01.jpg"]


def test_a_photo_without_a_bicycle_is_labeled_but_not_matched(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("cat.png"), FakeImage(labels=CAT_LABELS))

    assert deliver({"id": "user-7", "path": "cat.png"}) == 200

    result, published = only_result(pubsub)
    assert result["status"] == "labeled"
    assert [label["description"] for label in result["labels"]] == ["Cat", "Whiskers", "Felidae"]
    assert result["match"]["matched"] is False
    assert result["match"]["label"] is None
    assert published.attributes == {"id": "user-7", "status": "labeled", "matched": "false"}


def test_a_gs_uri_in_the_images_bucket_is_accepted(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("uploads/bike.jpg"))

    assert deliver({"id": 2, "path": f"gs://{BUCKET}/uploads/bike.jpg"}) == 200

    result, _ = only_result(pubsub)
    assert result["status"] == "labeled"
    assert result["uri"] == f"gs://{BUCKET}/uploads/bike.jpg"
    assert result["path"] == f"gs://{BUCKET}/uploads/bike.jpg"


@pytest.mark.parametrize(
    "path",
    [
        "gs://someone-elses-bucket/secret.jpg",
        f"gs://{BUCKET}-evil/image.jpg",
        f"GS://other/{BUCKET}/image.jpg",
        "gs://other",
    ],
)
def test_an_object_in_another_bucket_is_refused_without_asking_vision(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub, path: str
) -> None:
    assert deliver({"id": 3, "path": path}) == 200

    result, published = only_result(pubsub)
    assert result["status"] == "failed"
    assert result["error"]["code"] == "FOREIGN_BUCKET"
    assert result["labels"] == []
    assert result["match"]["matched"] is False
    assert published.attributes["matched"] == "false"
    assert vision.requests == []
