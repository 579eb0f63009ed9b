"""Results from ai-service-image-labeled, read from a Pub/Sub push body. Pure: no I/O.

The contract is contracts/image-labeled.schema.json (docs/contract.md "Out"). Only what this
service keeps or decides on is read, and each of those fields is checked: a body that is not a push
envelope, or a result that breaks the contract, is a `BadDelivery` (HTTP 400, so Pub/Sub redelivers
it and finally dead-letters it to this service's own dead-letter topic, where it is kept).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Results for one upload are ranked so that the end state does not depend on their order
# (docs/user-service.md, "Results, applied once"): first by the state they lead to, failed < accepted <
# review < blocked (a blocked verdict always wins: its image is gone; a failed result, e.g. the
# IMAGE_NOT_FOUND of a redrive after a blocked image was deleted, never undoes a verdict); between two
# that lead to the same state the one processed later wins (a redrive after the AI-Service was
# reconfigured), its processed_at trusted no further than the receiver's clock plus MAX_CLOCK_SKEW so
# that a time in the far future cannot lock the entry. processed_at has a fixed format, so its text
# orders like its time.
PRECEDENCE = {"failed": 0, "accepted": 1, "review": 2, "blocked": 3}
# Both services run on Google's NTP-synced clocks; the skew only orders results that lead to the same
# state (which labels are kept), never a verdict.
MAX_CLOCK_SKEW = datetime.timedelta(seconds=2)
PROCESSED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _is_moment(text: str) -> bool:
    """`text` is in processed_at's format and a real moment (no 13th month, no 25th hour)."""
    if not PROCESSED_AT.fullmatch(text):
        return False
    try:
        datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


STATUSES = ("labeled", "failed")
DECISIONS = ("accept", "review", "reject")
# The contract's bounds (contracts/image-labeled.schema.json maxItems): a result over them is refused.
MAX_LABELS = 100
MAX_OBJECTS = 100
# What an entry keeps of them, best first (the screen shows five).
MAX_LABELS_KEPT = 20
MAX_OBJECTS_KEPT = 20
BOX_KEYS = ("x", "y", "width", "height")
MAX_TEXT = 200


class BadDelivery(ValueError):
    """The request is not a push of a contract-valid result; the message says what is wrong."""


@dataclass(frozen=True)
class Result:
    upload_id: object  # as received: this service's ids are strings, anything else is unknown
    path: str | None
    status: str
    labels: tuple[Mapping[str, Any], ...]
    objects: tuple[Mapping[str, Any], ...]
    match: Mapping[str, Any]
    decision: str | None
    error: Mapping[str, str] | None
    processed_at: str
    source_message_id: str | None
    delivery_id: str | None  # the Pub/Sub message id of this result

    @property
    def state(self) -> str:
        """The entry's state this result leads to: accepted, blocked, review or failed."""
        if self.status == "failed":
            return "failed"
        if self.decision is not None:
            return {"accept": "accepted", "review": "review", "reject": "blocked"}[self.decision]
        return "accepted" if self.match["matched"] else "blocked"

    def rank(self, received: datetime.datetime) -> tuple[int, str]:
        """Where this result stands among the results for its upload (PRECEDENCE), received at
        `received` (its processed_at is trusted up to `received` + MAX_CLOCK_SKEW)."""
        latest = _timestamp(received + MAX_CLOCK_SKEW)
        return (PRECEDENCE[self.state], min(self.processed_at, latest))

    def stored(self, received: datetime.datetime) -> dict[str, Any]:
        """What an entry keeps of this result (Firestore map values)."""
        return {
            "labels": [dict(label) for label in self.labels],
            "objects": [dict(item) for item in self.objects],
            "match": dict(self.match),
            "decision": self.decision,
            "error": None if self.error is None else dict(self.error),
            "result": {
                "status": self.status,
                "processed_at": self.processed_at,
                "ranked_at": self.rank(received)[1],
                "source_message_id": self.source_message_id,
                "delivery_id": self.delivery_id,
            },
        }


def rank_of(entry: Mapping[str, Any]) -> tuple[int, str] | None:
    """The rank of the result an entry holds (`Result.stored()`), if any."""
    held = entry.get("result")
    if not held:
        return None
    return (PRECEDENCE[entry["state"]], str(held.get("ranked_at") or held["processed_at"]))


def _timestamp(moment: datetime.datetime) -> str:
    """`moment` in processed_at's format (UTC, milliseconds)."""
    utc = moment.astimezone(datetime.UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_value(data: bytes, what: str) -> object:
    """`data` as JSON; BadDelivery saying why not (every failure of the parser, including numbers
    longer than Python converts and nesting deeper than it recurses, is the sender's fault)."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadDelivery(f"{what} is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise BadDelivery(f"{what} is not JSON: {error.msg} at character {error.pos}") from None
    except ValueError as error:  # an integer over sys.get_int_max_str_digits digits
        raise BadDelivery(f"{what} holds a number that is too long: {error}") from None
    except RecursionError:
        raise BadDelivery(f"{what} is nested too deeply") from None


def parse_push(body: object) -> Result:
    """The result carried by a push body `{"message": {"data": base64, ...}, "subscription"}`."""
    if not isinstance(body, Mapping):
        raise BadDelivery("the body is not a JSON object (expected a Pub/Sub push envelope)")
    message = body.get("message")
    if not isinstance(message, Mapping):
        raise BadDelivery("the body has no 'message' object (expected a Pub/Sub push envelope)")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise BadDelivery("message.data is missing or empty")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadDelivery(f"message.data is not base64: {error}") from None
    payload = json_value(raw, "message.data (base64 decoded)")
    delivery_id = message.get("messageId") or message.get("message_id")
    return parse_result(payload, delivery_id if isinstance(delivery_id, str) else None)


def parse_result(payload: object, delivery_id: str | None = None) -> Result:
    if not isinstance(payload, Mapping):
        raise BadDelivery("the result is not a JSON object")
    if payload.get("schema_version") != "1.0":
        raise BadDelivery(f"schema_version is {payload.get('schema_version')!r}; expected '1.0'")
    upload_id = payload.get("id")
    if isinstance(upload_id, bool) or not isinstance(upload_id, (str, int)):
        raise BadDelivery("id is missing or not a string or integer")
    path = payload.get("path")
    if path is not None and not isinstance(path, str):
        raise BadDelivery("path is not a string or null")
    status = payload.get("status")
    if status not in STATUSES:
        raise BadDelivery(f"status is {status!r}; expected one of {', '.join(STATUSES)}")
    processed_at = payload.get("processed_at")
    if not isinstance(processed_at, str) or not _is_moment(processed_at):
        raise BadDelivery("processed_at is not RFC 3339 UTC with milliseconds")
    match = _match(payload.get("match"))
    decision = payload.get("decision")
    if decision is not None and decision not in DECISIONS:
        raise BadDelivery(f"decision is {decision!r}; expected one of {', '.join(DECISIONS)}")
    error = _error(payload.get("error"), status)
    if status == "labeled" and path is None:
        raise BadDelivery("a labeled result has no path")
    source = payload.get("source_message_id")
    return Result(
        upload_id=upload_id,
        path=path,
        status=status,
        labels=_items(payload.get("labels"), "labels", "description", MAX_LABELS, MAX_LABELS_KEPT),
        objects=_objects(payload.get("objects", [])),
        match=match,
        decision=decision,
        error=error,
        processed_at=processed_at,
        source_message_id=source if isinstance(source, str) else None,
        delivery_id=delivery_id,
    )


def _score(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise BadDelivery(f"{where} is not a number from 0 to 1")
    return float(value)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise BadDelivery(f"{where} is not a string")
    return value[:MAX_TEXT]


def _items(
    value: object, field: str, name_key: str, bound: int, keep: int
) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise BadDelivery(f"{field} is not a list")
    if len(value) > bound:
        raise BadDelivery(f"{field} has {len(value)} items; the contract allows at most {bound}")
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise BadDelivery(f"{field}[{index}] is not an object")
        items.append(
            {
                name_key: _text(item.get(name_key), f"{field}[{index}].{name_key}"),
                "score": _score(item.get("score"), f"{field}[{index}].score"),
            }
        )
    return tuple(items[:keep])


def _objects(value: object) -> tuple[dict[str, Any], ...]:
    """Objects as labels are kept, each with its box when the AI-Service gave one."""
    objects = _items(value, "objects", "name", MAX_OBJECTS, MAX_OBJECTS_KEPT)
    assert isinstance(value, list)  # _items refused anything else
    return tuple(
        {**kept, "box": _box(item["box"], f"objects[{index}].box")}
        if isinstance(item, Mapping) and item.get("box") is not None
        else kept
        for index, (kept, item) in enumerate(zip(objects, value, strict=False))
    )


def _box(value: object, where: str) -> dict[str, float]:
    """A box as fractions of the image (x, y from its top-left corner), inside the image."""
    if not isinstance(value, Mapping):
        raise BadDelivery(f"{where} is not an object")
    box = {key: _score(value.get(key), f"{where}.{key}") for key in BOX_KEYS}
    # A little slack: the AI-Service rounds each fraction.
    if box["x"] + box["width"] > 1.001 or box["y"] + box["height"] > 1.001:
        raise BadDelivery(f"{where} reaches outside the image")
    return box


def _match(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("matched"), bool):
        raise BadDelivery("match is missing or has no boolean 'matched'")
    label = value.get("label")
    score = value.get("score")
    reason = value.get("reason")
    return {
        "matched": value["matched"],
        "label": None if label is None else _text(label, "match.label"),
        "score": None if score is None else _score(score, "match.score"),
        "threshold": _score(value.get("threshold"), "match.threshold"),
        "reason": None if reason is None else _text(reason, "match.reason"),
    }


def _error(value: object, status: str) -> dict[str, str] | None:
    if status == "labeled":
        if value is not None:
            raise BadDelivery("a labeled result carries an error")
        return None
    if not isinstance(value, Mapping):
        raise BadDelivery("a failed result has no error object")
    return {
        "code": _text(value.get("code"), "error.code"),
        "message": _text(value.get("message"), "error.message"),
    }
