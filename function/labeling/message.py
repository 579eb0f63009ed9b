"""Parse a `messagePublished` CloudEvent into an `ImageRequest`, or say exactly what is wrong with it.

Both delivery shapes reach this point as the same CloudEvent data, `{"message": {...}, ...}`: Eventarc's
binary-mode events, and raw push bodies that functions-framework converts. The message data is UTF-8
JSON `{"id": 1, "path": "image-01.jpg"}`; `path` is an object in our bucket, or a gs:// URI of one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from labeling.errors import BadMessage, MessageId

PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
# https://cloud.google.com/storage/docs/objects#naming
MAX_OBJECT_NAME_BYTES = 1024
# The id is echoed as a Pub/Sub attribute, whose values are limited to 1,024 bytes.
MAX_ID_BYTES = 1024
# The largest request body (push body or binary CloudEvent) read at all: anything larger is refused
# unread and acknowledged (main.py). A typical message makes a 300-byte push body; the largest valid
# one (a 1,024-byte id, a gs:// path with a 222-byte bucket name and a 1,024-byte object name) makes
# 8.7 KiB as json.dumps writes it, and 18.5 KiB written as wastefully as JSON allows (every character
# a 6-byte \uXXXX escape). 32 KiB leaves room above that for attributes, and bounds what parsing can
# cost: JSON built of small objects takes about 25 times its size per parse, and functions-framework
# parses a push body twice, so 80 concurrent requests of 32 KiB take about 120 MiB of an instance's
# 512 MiB (measured: tests/function/test_oversized.py), where 80 of Pub/Sub's 10 MB took 2.5 GiB.
MAX_REQUEST_BYTES = 32 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_TYPE_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
# Characters refused in a string id and an object name alike, the two values a result and its
# attributes echo: the controls (category Cc: line breaks, terminal escapes, NUL), the line and
# paragraph separators (Zl, Zp: line breaks to most viewers), noncharacters (Unicode's "never
# interchange" code points), and the format characters that make a name display as something it is
# not: explicit bidirectional formatting (CVE-2021-42574), the deprecated shaping and digit controls,
# interlinear annotation and the byte-order mark. The rest of category Cf is allowed: real names need
# some of it (the zero-width joiner in emoji and Indic scripts, tag characters in flags); log lines
# escape every non-ASCII character anyway.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
_REFUSED_FORMAT = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi
    "\u206a\u206b\u206c\u206d\u206e\u206f"  # deprecated format characters
    "\ufff9\ufffa\ufffb"  # interlinear annotation
    "\ufeff"  # byte-order mark
)
# Characters that draw nothing: a value made only of these (and of Cf and whitespace) reads as empty.
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _is_visible(char: str) -> bool:
    return not (
        char.isspace()
        or char in _BLANKS
        or unicodedata.category(char) in ("Cf", "Mn", "Me", "Cc", "Zl", "Zp")
    )


@dataclass(frozen=True)
class ImageRequest:
    """A valid request to label one object of our bucket."""

    image_id: MessageId
    path: str
    object_name: str
    uri: str
    source_message_id: str | None


def source_message_id(event_id: object, data: object) -> str | None:
    """The Pub/Sub message id that caused this event (the CloudEvent id carries it too)."""
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, dict):
        for key in ("messageId", "message_id"):
            value = message.get(key)
            if isinstance(value, str) and value:
                return _bounded(value)
    return _bounded(event_id) if isinstance(event_id, str) and event_id else None


def parse_event(
    event_type: object, data: object, bucket: str, message_id: str | None
) -> ImageRequest:
    """Validate the event and its message; raise BadMessage with a specific code otherwise."""
    if event_type != PUBSUB_EVENT_TYPE:
        raise BadMessage(
            "UNSUPPORTED_EVENT_TYPE",
            f"expected a {PUBSUB_EVENT_TYPE} event, got type {_describe(event_type)}",
        )
    payload = _decode_payload(data)
    image_id = _image_id(payload)
    raw_path = payload.get("path")
    try:
        object_name = _object_name(raw_path, bucket)
    except BadMessage as error:
        error.image_id = image_id  # the failed result answers the id, never the path it refused
        raise
    assert isinstance(raw_path, str)  # _object_name accepted it
    return ImageRequest(
        image_id=image_id,
        path=raw_path,
        object_name=object_name,
        uri=f"gs://{bucket}/{object_name}",
        source_message_id=message_id,
    )


def _decode_payload(data: object) -> dict[str, Any]:
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        raise BadMessage(
            "MALFORMED_ENVELOPE", "event data has no Pub/Sub message object under 'message'"
        )
    encoded = message.get("data")
    if encoded is None or encoded == "":
        raise BadMessage("EMPTY_MESSAGE", "the Pub/Sub message has no data")
    if not isinstance(encoded, str):
        raise BadMessage("MALFORMED_ENVELOPE", "the Pub/Sub message data is not a base64 string")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadMessage("INVALID_BASE64", "the Pub/Sub message data is not valid base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadMessage(
            "INVALID_ENCODING", f"message data is not UTF-8 (byte {error.start})"
        ) from None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as error:
        # ValueError covers JSON syntax and integers too long to convert; RecursionError deep nesting.
        raise BadMessage("INVALID_JSON", f"message data is not JSON: {_short(error)}") from None
    if not isinstance(payload, dict):
        raise BadMessage(
            "NOT_AN_OBJECT",
            f'message data must be a JSON object like {{"id": 1, "path": "image.jpg"}}, '
            f"got {_json_kind(payload)}",
        )
    return payload


def _image_id(payload: dict[str, Any]) -> MessageId:
    if "id" not in payload:
        raise BadMessage("MISSING_ID", "message has no 'id'")
    image_id = payload["id"]
    if isinstance(image_id, int) and not isinstance(image_id, bool):
        if INT64_MIN <= image_id <= INT64_MAX:
            return image_id
        raise BadMessage("INVALID_ID", "'id' is an integer outside the 64-bit range")
    if isinstance(image_id, str):
        try:
            size = len(image_id.encode("utf-8"))
        except UnicodeEncodeError:
            raise BadMessage("INVALID_ID", "'id' is not valid Unicode text") from None
        if not image_id.strip() or size > MAX_ID_BYTES:
            raise BadMessage(
                "INVALID_ID", f"'id' must be a non-empty string of at most {MAX_ID_BYTES} bytes"
            )
        _check_characters(image_id, "INVALID_ID", "'id'")
        return image_id
    raise BadMessage(
        "INVALID_ID", f"'id' must be an integer or a non-empty string, got {_json_kind(image_id)}"
    )


def _object_name(raw_path: object, bucket: str) -> str:
    if raw_path is None:
        raise BadMessage("MISSING_PATH", "message has no 'path'")
    if not isinstance(raw_path, str):
        raise BadMessage("INVALID_PATH", f"'path' must be a string, got {_json_kind(raw_path)}")
    object_name = raw_path
    if raw_path[:5].lower() == "gs://":
        path_bucket, _, object_name = raw_path[5:].partition("/")
        if path_bucket != bucket:
            raise BadMessage(
                "FOREIGN_BUCKET",
                f"'path' names an object outside the images bucket {bucket!r}; only objects of "
                "that bucket are labeled",
            )
    _check_object_name(object_name)
    return object_name


def _check_object_name(name: str) -> None:
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadMessage("INVALID_PATH", "'path' is not valid Unicode text") from None
    if not 1 <= size <= MAX_OBJECT_NAME_BYTES:
        raise BadMessage(
            "INVALID_PATH",
            f"the object name must be 1 to {MAX_OBJECT_NAME_BYTES} bytes of UTF-8, got {size}",
        )
    _check_characters(name, "INVALID_PATH", "the object name")
    if any(segment in (".", "..") for segment in name.split("/")):
        raise BadMessage("INVALID_PATH", "the object name contains a '.' or '..' segment")


def _refused_character(text: str) -> str | None:
    """The first character of `text` that no id or object name may hold, if any."""
    for char in text:
        if (
            char in _REFUSED_FORMAT
            or unicodedata.category(char) in _REFUSED_CATEGORIES
            or _is_noncharacter(char)
        ):
            return char
    return None


def _acceptable(text: str) -> bool:
    """Whether an id or object name may be echoed: no refused character, something visible."""
    return _refused_character(text) is None and any(_is_visible(char) for char in text)


def _check_characters(text: str, code: str, what: str) -> None:
    char = _refused_character(text)
    if char is not None:
        # The code point, never the character: what was refused is not echoed, even in a log line.
        raise BadMessage(code, f"{what} contains the control or format character U+{ord(char):04X}")
    if not any(_is_visible(char) for char in text):
        raise BadMessage(code, f"{what} has no visible character")


def _bounded(value: str) -> str | None:
    """A message id as it may be echoed in a result and a log line, or None."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return None
    return value if size <= MAX_ID_BYTES and _acceptable(value) else None


def _describe(value: object) -> str:
    """An event type for the log line: a type name as it is, anything else only by its kind."""
    if isinstance(value, str) and _TYPE_NAME.fullmatch(value):
        return repr(value)
    return f"{_json_kind(value)} that is not an event type name"


def _json_kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return kinds.get(type(value), type(value).__name__)


def _short(error: Exception) -> str:
    return str(error)[:200]
