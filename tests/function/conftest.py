"""Fixtures for the function's tests: wire fakes on loopback and the real functions-framework app."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from functions_framework import create_app

from bench.fakes.events import binary_event, push_body
from bench.fakes.pubsub import FakePubSub, Published
from bench.fakes.vision import FakeVision
from ops.function_server import FUNCTION_SOURCE
from tests.fakes.environment import BUCKET, FUNCTION_ENV_NAMES, PROJECT, TOPIC, function_environment

TOPIC_PATH = f"projects/{PROJECT}/topics/{TOPIC}"


def uri(path: str) -> str:
    return f"gs://{BUCKET}/{path}"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees another's function settings, nor any real Google endpoint or credentials."""
    for name in FUNCTION_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)


@pytest.fixture
def vision() -> Iterator[FakeVision]:
    fake = FakeVision()
    with fake.server():
        yield fake


@pytest.fixture
def pubsub() -> Iterator[FakePubSub]:
    fake = FakePubSub(known_topics={TOPIC_PATH})
    with fake.server():
        yield fake


@pytest.fixture
def function_env(vision: FakeVision, pubsub: FakePubSub) -> dict[str, str]:
    """The environment infra/ deploys, pointed at the fakes; tests add or change keys before `app`."""
    return function_environment(vision.host, pubsub.host)


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch, function_env: dict[str, str]) -> Callable[[], Flask]:
    def make() -> Flask:
        for name, value in function_env.items():
            monkeypatch.setenv(name, value)
        app: Flask = create_app("label_image", str(FUNCTION_SOURCE), "cloudevent")
        return app

    return make


@pytest.fixture
def client(make_app: Callable[[], Flask]) -> FlaskClient:
    return make_app().test_client()


class Deliver:
    """Delivers one message to the app in either shape and returns the HTTP status."""

    def __init__(self, client: FlaskClient, shape: str) -> None:
        self.client = client
        self.shape = shape

    def __call__(self, payload: Any, message_id: str | None = None) -> int:
        if self.shape == "push":
            response = self.client.post("/", json=push_body(payload, message_id))
        else:
            headers, body = binary_event(payload, message_id)
            response = self.client.post("/", headers=headers, data=body)
        return response.status_code


@pytest.fixture(params=["push", "cloudevent"])
def deliver(request: pytest.FixtureRequest, client: FlaskClient) -> Deliver:
    """Runs the test once per delivery shape: raw Pub/Sub push body and Eventarc binary CloudEvent."""
    return Deliver(client, request.param)


def results(pubsub: FakePubSub) -> list[dict[str, Any]]:
    return [message.json() for message in pubsub.messages(TOPIC_PATH)]


def only_result(pubsub: FakePubSub) -> tuple[dict[str, Any], Published]:
    published = pubsub.messages(TOPIC_PATH)
    assert len(published) == 1, f"expected exactly one result, got {len(published)}"
    return published[0].json(), published[0]


def log_lines(text: str) -> list[dict[str, Any]]:
    """The structured (JSON) lines of captured output."""
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines
