"""A whole stack for reliability tests: wire fakes (with faults) and the function, in-process or served.

Fixtures here are module-scoped where hypothesis needs them to be (it runs many examples in one test
call), so each builds its own environment instead of using tests/function's function-scoped fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from functions_framework import create_app

from bench.fakes.events import binary_event, push_body
from bench.fakes.grpc_server import Faults
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeVision
from ops.function_server import FUNCTION_SOURCE
from tests.fakes.environment import FUNCTION_ENV_NAMES, PROJECT, function_environment
from tests.function.conftest import TOPIC_PATH

SHAPES = ("push", "cloudevent")


@dataclass(frozen=True)
class Event:
    """One HTTP request as Pub/Sub (push) or Eventarc (binary CloudEvent) would send it."""

    headers: dict[str, str]
    body: bytes
    label: str = ""


def event(payload: Any, shape: str, message_id: str, label: str = "") -> Event:
    """A delivery of `payload` (JSON-encoded unless bytes) in the given shape."""
    if shape == "push":
        body = json.dumps(push_body(payload, message_id)).encode()
        return Event({"Content-Type": "application/json"}, body, label)
    headers, data = binary_event(payload, message_id)
    return Event(headers, data, label)


class Stack:
    """Not a dataclass: hypothesis prints the arguments of a failing example, and the fakes are big."""

    def __init__(
        self, vision: FakeVision, pubsub: FakePubSub, env: dict[str, str], app: Flask
    ) -> None:
        self.vision = vision
        self.pubsub = pubsub
        self.env = env
        self.app = app

    def __repr__(self) -> str:
        return f"Stack(vision={self.vision.host}, pubsub={self.pubsub.host})"

    def deliver(self, delivery: Event) -> int:
        """Deliver in-process; a fresh test client per call, so threads can deliver concurrently."""
        response = self.app.test_client().post("/", headers=delivery.headers, data=delivery.body)
        return response.status_code

    def results(self) -> list[dict[str, Any]]:
        return [message.json() for message in self.pubsub.messages(TOPIC_PATH)]


@contextmanager
def running_stack(
    vision_faults: Faults | None = None,
    pubsub_faults: Faults | None = None,
    **env_overrides: str,
) -> Iterator[Stack]:
    """Fakes on loopback and the function app built against them; the environment stays set while
    the stack runs, because the clients are built (and read PUBSUB_EMULATOR_HOST) on the first event."""
    vision = FakeVision(faults=vision_faults or Faults())
    pubsub = FakePubSub(faults=pubsub_faults or Faults(), known_topics={TOPIC_PATH})
    with ExitStack() as stack, pytest.MonkeyPatch.context() as monkeypatch:
        stack.enter_context(vision.server())
        stack.enter_context(pubsub.server())
        env = function_environment(vision.host, pubsub.host, **env_overrides)
        set_environment(monkeypatch, env)
        app = create_app("label_image", str(FUNCTION_SOURCE), "cloudevent")
        yield Stack(vision, pubsub, env, app)


def set_environment(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    for name in FUNCTION_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
