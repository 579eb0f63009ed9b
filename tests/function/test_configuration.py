"""Configuration comes from the environment and is validated when an instance starts: a missing or
invalid variable stops the function with an error naming it, before it could publish anywhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeImage, FakeVision
from labeling.config import Settings
from labeling.errors import ConfigError
from tests.function.conftest import TOPIC_PATH, Deliver, only_result, uri

REPOSITORY = Path(__file__).resolve().parents[2]
BASE = {"PROJECT_ID": "test-project", "TOPIC_ID": "ai-service-image-labeled", "BUCKET_NAME": "imgs"}


@pytest.mark.parametrize("name", ["PROJECT_ID", "TOPIC_ID", "BUCKET_NAME"])
def test_a_missing_required_variable_stops_the_function_at_startup_naming_it(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    pubsub: FakePubSub,
    name: str,
) -> None:
    del function_env[name]

    with pytest.raises(ConfigError, match=name):
        make_app()
    assert pubsub.messages() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MIN_SCORE", "1.5"),
        ("MIN_SCORE", "-0.1"),
        ("MIN_SCORE", "high"),
        ("MIN_SCORE", "nan"),
        ("MAX_LABELS", "0"),
        ("MAX_LABELS", "ten"),
        ("MAX_LABELS", "101"),
        ("VISION_FEATURES", "LABEL_DETECTION,FACE_DETECTOR"),
        ("VISION_FEATURES", "TEXT_DETECTION"),
        ("VISION_TIMEOUT_SECONDS", "0"),
        ("VISION_TIMEOUT_SECONDS", "forever"),
        ("PUBLISH_TIMEOUT_SECONDS", "-1"),
        ("TARGET_LABELS", " , "),
        ("TOPIC_ID", "projects/p/topics/t"),
        ("BUCKET_NAME", "gs://imgs"),
        ("PROJECT_ID", "projects/p"),
        ("PROJECT_ID", "my project"),
    ],
)
def test_an_invalid_setting_is_a_startup_error_that_names_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**BASE, name: value})


def test_max_labels_stops_where_the_result_contract_does() -> None:
    """Vision takes any max_results; a result carries at most maxItems labels and objects."""
    schema = json.loads((REPOSITORY / "contracts" / "image-labeled.schema.json").read_text())
    limits = {schema["properties"][name]["maxItems"] for name in ("labels", "objects")}
    assert limits == {Settings.from_env({**BASE, "MAX_LABELS": str(max(limits))}).max_labels}
    beyond = str(max(limits) + 1)
    with pytest.raises(ConfigError, match=rf"MAX_LABELS='{beyond}' is not valid: expected an"):
        Settings.from_env({**BASE, "MAX_LABELS": beyond})


@pytest.mark.parametrize("name", ["TARGET_LABELS", "MIN_SCORE", "MAX_LABELS", "VISION_FEATURES"])
def test_an_empty_optional_variable_means_its_default(name: str) -> None:
    assert Settings.from_env({**BASE, name: ""}) == Settings.from_env(BASE)


def test_results_go_to_the_configured_topic_only(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("bike.jpg"))

    deliver({"id": 1, "path": "bike.jpg"})

    assert {message.topic for message in pubsub.messages()} == {TOPIC_PATH}


def test_target_labels_match_case_insensitively_and_any_of_several_targets(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
) -> None:
    function_env["TARGET_LABELS"] = "mountain bike, BICYCLE"
    vision.add_image(uri("bike.jpg"), FakeImage(labels=[("Wheel", 0.99), ("bicycle", 0.8)]))

    Deliver(make_app().test_client(), "push")({"id": 1, "path": "bike.jpg"})

    result, _ = only_result(pubsub)
    assert result["match"]["matched"] is True
    assert result["match"]["label"] == "bicycle"
    assert result["match"]["targets"] == ["mountain bike", "BICYCLE"]


@pytest.mark.parametrize(("score", "matched"), [(0.79, False), (0.8, True), (0.95, True)])
def test_a_target_label_matches_only_at_or_above_min_score(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    score: float,
    matched: bool,
) -> None:
    function_env["MIN_SCORE"] = "0.8"
    vision.add_image(uri("bike.jpg"), FakeImage(labels=[("Bicycle", score)]))

    Deliver(make_app().test_client(), "push")({"id": 1, "path": "bike.jpg"})

    result, published = only_result(pubsub)
    assert result["match"]["matched"] is matched
    assert result["match"]["threshold"] == 0.8
    assert result["labels"][0]["score"] == score
    assert published.attributes["matched"] == str(matched).lower()


def test_labels_are_best_score_first_and_at_most_max_labels(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
) -> None:
    function_env["MAX_LABELS"] = "3"
    labels = [("Tire", 0.6), ("Bicycle", 0.9), ("Wheel", 0.95), ("Sky", 0.7), ("Road", 0.5)]
    vision.add_image(uri("bike.jpg"), FakeImage(labels=labels))

    Deliver(make_app().test_client(), "push")({"id": 1, "path": "bike.jpg"})

    result, _ = only_result(pubsub)
    assert [label["description"] for label in result["labels"]] == ["Wheel", "Bicycle", "Sky"]
    [request] = vision.requests[0].requests
    assert [feature.max_results for feature in request.features] == [3]


def test_all_requested_features_go_in_one_vision_call(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
) -> None:
    function_env["VISION_FEATURES"] = "LABEL_DETECTION,OBJECT_LOCALIZATION,SAFE_SEARCH_DETECTION"
    vision.add_image(
        uri("bike.jpg"),
        FakeImage(labels=[("Wheel", 0.9)], objects=[("Bicycle", 0.88), ("Person", 0.7)]),
    )

    Deliver(make_app().test_client(), "push")({"id": 1, "path": "bike.jpg"})

    assert len(vision.requests) == 1
    [request] = vision.requests[0].requests
    assert [feature.type_.name for feature in request.features] == [
        "LABEL_DETECTION",
        "OBJECT_LOCALIZATION",
        "SAFE_SEARCH_DETECTION",
    ]
    result, _ = only_result(pubsub)
    assert result["match"]["matched"] is True
    assert result["match"]["label"] == "Bicycle"
    assert result["match"]["source"] == "object"
    assert [item["name"] for item in result["objects"]] == ["Bicycle", "Person"]
    assert result["safe_search"]["unsafe"] is False
    assert result["safe_search"]["adult"] == "VERY_UNLIKELY"


@pytest.mark.parametrize("category", ["adult", "violence", "racy"])
def test_unsafe_content_never_matches_when_safe_search_is_requested(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    category: str,
) -> None:
    from google.cloud import vision_v1

    function_env["VISION_FEATURES"] = "LABEL_DETECTION,SAFE_SEARCH_DETECTION"
    vision.add_image(
        uri("bike.jpg"), FakeImage(safe_search={category: vision_v1.Likelihood.LIKELY})
    )

    Deliver(make_app().test_client(), "push")({"id": 1, "path": "bike.jpg"})

    result, published = only_result(pubsub)
    assert result["status"] == "labeled"
    assert result["labels"][0]["description"] == "Bicycle"
    assert result["match"]["matched"] is False
    assert result["match"]["reason"] == "UNSAFE_CONTENT"
    assert result["safe_search"][category] == "LIKELY"
    assert result["safe_search"]["unsafe"] is True
    assert published.attributes["matched"] == "false"


def test_without_safe_search_requested_no_safe_search_is_reported(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("bike.jpg"))

    deliver({"id": 1, "path": "bike.jpg"})

    result, _ = only_result(pubsub)
    assert "safe_search" not in result
    [request] = vision.requests[0].requests
    assert [feature.type_.name for feature in request.features] == ["LABEL_DETECTION"]
