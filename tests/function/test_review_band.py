"""The review band (REVIEW_MIN_SCORE): accept when confident, send borderline images to a person, reject
the rest; unsafe content and failures never accept; without the band nothing in the result changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from flask import Flask
from google.cloud import vision_v1

from bench.fakes.events import push_body
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import CAT_LABELS, FakeImage, FakeVision
from labeling.config import Settings
from labeling.errors import ConfigError
from ops.function_server import FunctionServer
from tests.fakes.contracts import IMAGE_LABELED, problems
from tests.function.conftest import TOPIC_PATH, Deliver, log_lines, only_result, uri

BASE = {"PROJECT_ID": "test-project", "TOPIC_ID": "ai-service-image-labeled", "BUCKET_NAME": "imgs"}
BAND = {"MIN_SCORE": "0.8", "REVIEW_MIN_SCORE": "0.5"}


def test_the_band_over_http_accepts_reviews_and_rejects_with_decision_in_data_attribute_and_log(
    function_env: dict[str, str], vision: FakeVision, pubsub: FakePubSub
) -> None:
    function_env.update(BAND, VISION_FEATURES="LABEL_DETECTION,SAFE_SEARCH_DETECTION")
    vision.add_image(uri("sure.jpg"), FakeImage(labels=[("Bicycle", 0.9)]))
    vision.add_image(uri("edge.jpg"), FakeImage(labels=[("Bicycle", 0.8)]))
    vision.add_image(uri("unsure.jpg"), FakeImage(labels=[("Bicycle", 0.6), ("Cat", 0.9)]))
    vision.add_image(uri("floor.jpg"), FakeImage(labels=[("Bicycle", 0.5)]))
    vision.add_image(uri("weak.jpg"), FakeImage(labels=[("Bicycle", 0.49)]))
    vision.add_image(uri("cat.jpg"), FakeImage(labels=CAT_LABELS))
    unsafe = FakeImage(
        labels=[("Bicycle", 0.6)], safe_search={"violence": vision_v1.Likelihood.VERY_LIKELY}
    )
    vision.add_image(uri("unsafe-unsure.jpg"), unsafe)
    images = [
        "sure.jpg", "edge.jpg", "unsure.jpg", "floor.jpg", "weak.jpg", "cat.jpg",
        "unsafe-unsure.jpg", "missing.jpg",
    ]  # fmt: skip

    with FunctionServer(function_env) as server, requests.Session() as http:
        statuses = [
            http.post(server.url, json=push_body({"id": number, "path": path}), timeout=30)
            for number, path in enumerate(images)
        ]
        output = server.output()

    assert [response.status_code for response in statuses] == [200] * len(images)
    by_id = {message.json()["id"]: message for message in pubsub.messages(TOPIC_PATH)}
    decisions = {images[number]: by_id[number].json()["decision"] for number in by_id}
    assert decisions == {
        "sure.jpg": "accept",
        "edge.jpg": "accept",  # MIN_SCORE itself is confident enough
        "unsure.jpg": "review",
        "floor.jpg": "review",  # REVIEW_MIN_SCORE is inside the band
        "weak.jpg": "reject",
        "cat.jpg": "reject",
        "unsafe-unsure.jpg": "reject",
        "missing.jpg": "reject",  # a failure never accepts
    }
    for number, message in by_id.items():
        result = message.json()
        assert message.attributes["decision"] == result["decision"], images[number]
        # matched keeps its meaning: a target at or above MIN_SCORE, and safe.
        assert result["match"]["matched"] is (result["decision"] == "accept"), images[number]
        assert message.attributes["matched"] == str(result["match"]["matched"]).lower()
        assert result["match"]["threshold"] == 0.8
        assert result["match"]["review_threshold"] == 0.5
        assert (
            result["schema_version"] == "1.0"
        )  # additive: docs/contract.md's rule keeps the version
        assert problems(IMAGE_LABELED, result) == [], result
    assert by_id[2].json()["match"]["label"] is None  # nothing matched; review is not a match
    assert by_id[6].json()["match"]["reason"] == "UNSAFE_CONTENT"
    assert by_id[7].json()["status"] == "failed"
    logged = {line["id"]: line["decision"] for line in log_lines(output) if "status" in line}
    assert logged == {number: decisions[path] for number, path in enumerate(images)}


def test_without_review_min_score_results_attributes_and_logs_are_unchanged(
    function_env: dict[str, str], vision: FakeVision, pubsub: FakePubSub
) -> None:
    function_env["MIN_SCORE"] = "0.8"
    vision.add_image(uri("unsure.jpg"), FakeImage(labels=[("Bicycle", 0.6)]))
    vision.add_image(uri("sure.jpg"), FakeImage(labels=[("Bicycle", 0.9)]))

    with FunctionServer(function_env) as server, requests.Session() as http:
        for number, path in enumerate(["unsure.jpg", "sure.jpg", "missing.jpg"]):
            http.post(server.url, json=push_body({"id": number, "path": path}), timeout=30)
        output = server.output()

    published = {message.json()["id"]: message for message in pubsub.messages(TOPIC_PATH)}
    assert [published[number].json()["match"]["matched"] for number in range(3)] == [
        False,
        True,
        False,
    ]
    for message in published.values():
        assert "decision" not in message.json()
        assert "review_threshold" not in message.json()["match"]
        assert set(message.attributes) == {"id", "status", "matched"}
    assert [line["decision"] for line in log_lines(output) if "status" in line] == [None] * 3


@pytest.mark.parametrize(
    ("objects", "decision"),
    [
        ([("Bicycle", 0.85)], "accept"),
        ([("Bicycle", 0.7)], "review"),
        ([("Bicycle", 0.2)], "reject"),
    ],
)
def test_objects_fall_in_the_band_like_labels(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    objects: list[tuple[str, float]],
    decision: str,
) -> None:
    function_env.update(BAND, VISION_FEATURES="LABEL_DETECTION,OBJECT_LOCALIZATION")
    vision.add_image(uri("bike.jpg"), FakeImage(labels=CAT_LABELS, objects=objects))

    Deliver(make_app().test_client(), "push")({"id": 1, "path": "bike.jpg"})

    result, published = only_result(pubsub)
    assert (result["decision"], published.attributes["decision"]) == (decision, decision)


@pytest.mark.parametrize("payload", [{"id": 1}, {"id": 1, "path": "gs://elsewhere/a.jpg"}])
def test_a_refused_message_is_rejected_in_the_band(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    pubsub: FakePubSub,
    payload: dict[str, object],
) -> None:
    function_env.update(BAND)

    Deliver(make_app().test_client(), "push")(payload)

    result, published = only_result(pubsub)
    assert result["status"] == "failed"
    assert (result["decision"], published.attributes["decision"]) == ("reject", "reject")


@pytest.mark.parametrize(
    ("min_score", "review_min_score"),
    [("0.5", "0.5"), ("0.5", "0.7"), ("0.5", "-0.1"), ("0.5", "low"), ("0.5", "nan"), ("0", "0")],
)
def test_a_review_min_score_not_below_min_score_is_a_startup_error_that_names_it(
    min_score: str, review_min_score: str
) -> None:
    with pytest.raises(ConfigError, match="REVIEW_MIN_SCORE"):
        Settings.from_env({**BASE, "MIN_SCORE": min_score, "REVIEW_MIN_SCORE": review_min_score})


def test_the_server_refuses_to_start_with_a_review_min_score_above_min_score(
    function_env: dict[str, str], pubsub: FakePubSub
) -> None:
    server = FunctionServer({**function_env, "MIN_SCORE": "0.5", "REVIEW_MIN_SCORE": "0.6"})

    with pytest.raises(RuntimeError, match="exited"):
        server.start(timeout=30)
    assert "REVIEW_MIN_SCORE" in server.output()
    assert pubsub.messages() == []


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("  ", None), ("0", 0.0), ("0.3", 0.3)])
def test_review_min_score_is_optional_and_may_be_zero(raw: str, expected: float | None) -> None:
    assert Settings.from_env({**BASE, "REVIEW_MIN_SCORE": raw}).review_min_score == expected
