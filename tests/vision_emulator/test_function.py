"""The deployed function, unchanged, with VISION_EMULATOR_HOST at the emulator: a new-image message for a
photo in the bucket comes back on the labeled topic with the verdict the photo deserves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from bench.fakes.events import push_body
from bench.fakes.pubsub import FakePubSub
from ops.emulators import VisionEmulator
from ops.function_server import FUNCTION_SOURCE
from tests.fakes.environment import FUNCTION_ENV_NAMES, TOPIC, function_environment
from tests.vision_emulator.conftest import BUCKET, PHOTOS, PROJECT

TOPIC_PATH = f"projects/{PROJECT}/topics/{TOPIC}"


@pytest.fixture
def pubsub() -> Iterator[FakePubSub]:
    fake = FakePubSub(known_topics={TOPIC_PATH})
    with fake.server():
        yield fake


@pytest.fixture
def function(
    monkeypatch: pytest.MonkeyPatch, emulator: VisionEmulator, pubsub: FakePubSub
) -> FlaskClient:
    for name in FUNCTION_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    # Only what infra/ deploys; TARGET_LABELS and MIN_SCORE keep their defaults.
    for name, value in function_environment(
        emulator.host, pubsub.host, PROJECT_ID=PROJECT, BUCKET_NAME=BUCKET
    ).items():
        monkeypatch.setenv(name, value)
    app = create_app("label_image", str(FUNCTION_SOURCE), "cloudevent")
    test_client: FlaskClient = app.test_client()
    return test_client


def label(function: FlaskClient, pubsub: FakePubSub, path: str) -> Any:
    before = len(pubsub.messages(TOPIC_PATH))
    reply = function.post("/", json=push_body({"id": before + 1, "path": path}))
    assert reply.status_code == 200, reply.get_data(as_text=True)
    published = pubsub.wait_for(before + 1, topic=TOPIC_PATH)
    assert len(published) == before + 1
    return published[-1].json()


def test_each_photo_gets_the_verdict_it_deserves(function: FlaskClient, pubsub: FakePubSub) -> None:
    verdicts = {item.name: label(function, pubsub, f"photos/{item.name}") for item in PHOTOS}
    for item in PHOTOS:
        result = verdicts[item.name]
        assert result["status"] == "labeled", result
        assert result["match"]["matched"] is item.shows_bicycle, (item.name, result)
    assert verdicts["bicycle.png"]["match"]["label"] == "Bicycle"


def test_a_missing_photo_is_a_failed_result_not_a_retry(
    function: FlaskClient, pubsub: FakePubSub
) -> None:
    result = label(function, pubsub, "photos/never-uploaded.jpg")
    assert result["status"] == "failed"
    assert result["error"]["code"] == "IMAGE_UNREADABLE"
