"""Driving the User-Service in tests: its API, its announcements, and results as the AI-Service sends them.

Results are built to the contract (contracts/image-labeled.schema.json) and checked against it before
they are delivered, so a test never feeds the service something the AI-Service could not send unless
it means to (the malformed-delivery tests build their bodies by hand).
"""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from tests.fakes.contracts import problems
from user_service.local.server import NEW_IMAGE_TOPIC

LABELED_TOPIC = "ai-service-image-labeled"
ANNOUNCEMENTS = "test-announcements"
BICYCLE = {"description": "Bicycle", "score": 0.97, "mid": "/m/0199g", "topicality": 0.97}
WHEEL = {"description": "Wheel", "score": 0.91, "mid": "/m/083wq", "topicality": 0.91}
HOUSE = {"description": "House", "score": 0.93, "mid": "/m/03jm5", "topicality": 0.93}
_clock = [datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)]


def processed_at(offset_seconds: float = 0.0) -> str:
    """An RFC 3339 UTC time with milliseconds, `offset_seconds` after a fixed start."""
    moment = _clock[0] + datetime.timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result(
    upload_id: object,
    path: str | None,
    *,
    matched: bool = True,
    at: float = 0.0,
    labels: list[dict[str, Any]] | None = None,
    decision: str | None = None,
    error: tuple[str, str] | None = None,
    objects: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A contract-valid result, as the AI-Service publishes it."""
    failed = error is not None
    top = labels if labels is not None else ([BICYCLE, WHEEL] if matched else [HOUSE])
    hit = top[0] if matched and not failed else None
    match: dict[str, Any] = {
        "matched": hit is not None,
        "targets": ["Bicycle"],
        "threshold": 0.8 if decision else 0.5,
        "label": None if hit is None else hit["description"],
        "score": None if hit is None else hit["score"],
        "source": None if hit is None else "label",
    }
    payload: dict[str, Any] = {
        "schema_version": "1.0",
        "id": upload_id,
        "path": path,
        "uri": None if path is None else f"gs://images/{path}",
        "status": "failed" if failed else "labeled",
        "labels": [] if failed else top,
        "match": match,
        "source_message_id": "4242",
        "processed_at": processed_at(at),
    }
    if objects and not failed:
        payload["objects"] = objects
    if decision is not None:
        payload["decision"] = decision
        match["review_threshold"] = 0.5
    if error is not None:
        payload["error"] = {"code": error[0], "message": error[1]}
    found = problems("image-labeled", payload)
    assert not found, f"the test built a result that breaks the contract: {found}"
    return payload


def envelope(data: object, message_id: str = "9001") -> dict[str, Any]:
    """A Pub/Sub push body, as the emulator and real Pub/Sub send it: bytes and text are sent as
    they are, anything else as its JSON."""
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, str):
        raw = data.encode()
    else:
        raw = json.dumps(data).encode()
    return {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "attributes": {},
            "messageId": message_id,
            "publishTime": "2026-12-01T10:00:00.000Z",
        },
        "subscription": "projects/p/subscriptions/user-service-results",
    }


@dataclass
class Topics:
    """The two contract topics in one emulator project, with a pull subscription on the announcements."""

    project: str
    publisher: PublisherClient
    subscriber: SubscriberClient
    seen: list[dict[str, Any]] = field(default_factory=list)

    def create(self, push_endpoint: str | None = None) -> Topics:
        for topic in (NEW_IMAGE_TOPIC, LABELED_TOPIC):
            self.publisher.create_topic(name=self.topic(topic), timeout=30)
        self.subscriber.create_subscription(
            name=self.subscription(ANNOUNCEMENTS), topic=self.topic(NEW_IMAGE_TOPIC), timeout=30
        )
        if push_endpoint is not None:
            self.subscriber.create_subscription(
                request={
                    "name": self.subscription("user-service-results"),
                    "topic": self.topic(LABELED_TOPIC),
                    "push_config": {"push_endpoint": push_endpoint},
                    "ack_deadline_seconds": 10,
                    "retry_policy": {
                        "minimum_backoff": {"seconds": 0},
                        "maximum_backoff": {"seconds": 1},
                    },
                },
                timeout=30,
            )
        return self

    def topic(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    def subscription(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    def announcements(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Pulls (and acknowledges) what the service announced, until `count` came or `timeout`."""
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            try:
                response = self.subscriber.pull(
                    request={"subscription": self.subscription(ANNOUNCEMENTS), "max_messages": 10},
                    timeout=2,
                    retry=None,
                )
            except api_exceptions.DeadlineExceeded:
                continue
            if not response.received_messages:
                time.sleep(0.05)
                continue
            self.subscriber.acknowledge(
                request={
                    "subscription": self.subscription(ANNOUNCEMENTS),
                    "ack_ids": [item.ack_id for item in response.received_messages],
                }
            )
            for item in response.received_messages:
                data = json.loads(item.message.data)
                found = problems("new-image", data)
                assert not found, (
                    f"the service announced {data!r}, which breaks the contract: {found}"
                )
                received.append(data)
        self.seen.extend(received)
        return received

    def publish_result(self, payload: Mapping[str, Any]) -> None:
        """Publishes a result to ai-service-image-labeled, with the contract's attributes."""
        attributes = {
            "id": str(payload["id"]),
            "status": str(payload["status"]),
            "matched": "true" if payload["match"]["matched"] else "false",
        }
        self.publisher.publish(
            self.topic(LABELED_TOPIC), json.dumps(payload).encode(), **attributes
        ).result(timeout=30)


def wait_for(probe: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Polls until `probe()` returns something truthy; that value, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s (last: {value!r})")
        time.sleep(interval)


def put_object(upload: Mapping[str, Any], data: bytes, **extra_headers: str) -> requests.Response:
    """The browser's PUT with the signed URL and exactly the signed headers."""
    return requests.put(
        upload["url"], data=data, headers={**upload["headers"], **extra_headers}, timeout=30
    )
