"""Build the two shapes in which a Pub/Sub message reaches the function.

- a raw Pub/Sub push body, as our push subscription POSTs it:
  https://cloud.google.com/pubsub/docs/push#receive_push
- a binary-mode CloudEvent, as Eventarc delivers `google.cloud.pubsub.topic.v1.messagePublished`:
  https://cloud.google.com/eventarc/docs/cloudevents#pubsub
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
SOURCE_TOPIC = "projects/test-project/topics/user-service-new-image"
PUSH_SUBSCRIPTION = "projects/test-project/subscriptions/ai-service-image-labeling-push"
PUBLISH_TIME = "2026-11-27T10:00:00.000Z"


def message_data(payload: Any) -> bytes:
    """What the User-Service publishes: UTF-8 JSON (bytes pass through untouched)."""
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload).encode("utf-8")


def pubsub_message(
    payload: Any, message_id: str | None = None, attributes: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "data": base64.b64encode(message_data(payload)).decode("ascii"),
        "attributes": attributes or {},
        "messageId": message_id or new_message_id(),
        "publishTime": PUBLISH_TIME,
    }


def push_body(payload: Any, message_id: str | None = None, **message_fields: Any) -> dict[str, Any]:
    """A raw push request body; extra keyword fields override or add message fields."""
    message = pubsub_message(payload, message_id)
    message.update(message_fields)
    return {"message": message, "subscription": PUSH_SUBSCRIPTION}


def binary_event(
    payload: Any, message_id: str | None = None, event_type: str = PUBSUB_EVENT_TYPE
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode CloudEvent carrying the message, as Eventarc sends it."""
    message_id = message_id or new_message_id()
    message = pubsub_message(payload, message_id)
    # Eventarc also sends snake_case duplicates of the message fields.
    message.update({"message_id": message_id, "publish_time": PUBLISH_TIME})
    event = CloudEvent(
        {
            "type": event_type,
            "source": f"//pubsub.googleapis.com/{SOURCE_TOPIC}",
            "id": message_id,
            "specversion": "1.0",
            "datacontenttype": "application/json",
        },
        {"message": message, "subscription": PUSH_SUBSCRIPTION},
    )
    headers, body = to_binary(event)
    return dict(headers), body


def new_message_id() -> str:
    return str(uuid.uuid4().int)[:16]
