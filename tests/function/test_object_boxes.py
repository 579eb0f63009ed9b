"""Where objects were asked for (OBJECT_LOCALIZATION), each object's box goes into the result: the
rectangle around Vision's normalized bounding polygon, as fractions of the image (issue 18; an
additive field of schema 1.0, contracts/image-labeled.schema.json). Every published result is
checked against the contract (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeImage, FakeVision
from tests.function.conftest import Deliver, only_result, uri

# A bicycle in the middle of the picture, as Vision outlines it (clockwise from the top-left).
BICYCLE_POLYGON = [(0.25, 0.2), (0.75, 0.2), (0.75, 0.8), (0.25, 0.8)]


def labeled(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    objects: list[tuple[str, float] | tuple[str, float, list[tuple[float, float]]]],
) -> dict[str, Any]:
    function_env["VISION_FEATURES"] = "LABEL_DETECTION,OBJECT_LOCALIZATION"
    vision.add_image(uri("bike.jpg"), FakeImage(labels=[("Wheel", 0.9)], objects=objects))
    Deliver(make_app().test_client(), "push")({"id": 1, "path": "bike.jpg"})
    result, _ = only_result(pubsub)
    return result


def test_each_localized_object_carries_its_box(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
) -> None:
    result = labeled(
        make_app,
        function_env,
        vision,
        pubsub,
        [
            ("Bicycle", 0.88, BICYCLE_POLYGON),
            ("Person", 0.7, [(0.1, 0.05), (0.3, 0.05), (0.3, 0.9), (0.1, 0.9)]),
        ],
    )

    assert result["objects"] == [
        {
            "name": "Bicycle",
            "score": 0.88,
            "mid": "/m/obj000",
            "box": {"x": 0.25, "y": 0.2, "width": 0.5, "height": 0.6},
        },
        {
            "name": "Person",
            "score": 0.7,
            "mid": "/m/obj001",
            "box": {"x": 0.1, "y": 0.05, "width": 0.2, "height": 0.85},
        },
    ]


def test_an_object_without_a_polygon_has_no_box(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
) -> None:
    result = labeled(make_app, function_env, vision, pubsub, [("Bicycle", 0.88)])

    assert result["objects"] == [{"name": "Bicycle", "score": 0.88, "mid": "/m/obj000"}]


@pytest.mark.parametrize(
    ("polygon", "box"),
    [
        # Vision leaves out a coordinate of 0 (proto3): the corner at the origin reads (0, 0).
        (
            [(0.0, 0.0), (0.5, 0.0), (0.5, 0.4), (0.0, 0.4)],
            {"x": 0, "y": 0, "width": 0.5, "height": 0.4},
        ),
        # A polygon reaching past the edges is cut at the image.
        (
            [(-0.1, 0.2), (1.2, 0.2), (1.2, 1.01), (-0.1, 1.01)],
            {"x": 0, "y": 0.2, "width": 1, "height": 0.8},
        ),
        # Float32 noise is rounded to a ten-thousandth of the image.
        (
            [(0.123456, 0.2), (0.654321, 0.2), (0.654321, 0.7), (0.123456, 0.7)],
            {"x": 0.1235, "y": 0.2, "width": 0.5308, "height": 0.5},
        ),
    ],
)
def test_the_box_is_the_polygon_inside_the_image(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    polygon: list[tuple[float, float]],
    box: dict[str, float],
) -> None:
    result = labeled(make_app, function_env, vision, pubsub, [("Bicycle", 0.88, polygon)])

    [item] = result["objects"]
    assert item["box"] == pytest.approx(box, abs=1e-4)
    assert item["box"]["x"] + item["box"]["width"] <= 1.0001
    assert item["box"]["y"] + item["box"]["height"] <= 1.0001
