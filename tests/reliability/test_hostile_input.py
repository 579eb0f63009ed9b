"""Whatever a buggy or malicious publisher (or caller) sends, the function acknowledges it with a specific
`failed` result or a structured log line: never an unhandled exception, never a retry, never a Vision
call for an object outside the images bucket, and nothing it refused echoed in a result, an attribute
or a log line.

Property-based (hypothesis), derandomized so CI runs the same examples every time; FUZZ_EXAMPLES runs a
longer campaign (`make fuzz`, tests/function/fuzzing.py).
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.fakes.events import PUBSUB_EVENT_TYPE, binary_event, push_body
from bench.fakes.vision import FakeImage
from labeling.message import MAX_REQUEST_BYTES
from tests.function.conftest import BUCKET, log_lines, uri
from tests.function.fuzzing import (
    DROPPED_CODES,
    FAILED_CODES,
    PATH_CODES,
    fuzz_settings,
    holds_refused,
    id_is_valid,
    ids,
    json_values,
    nasty_text,
    object_name_in_bucket,
    object_name_is_valid,
    paths,
    shapes,
)
from tests.reliability.conftest import Stack, running_stack

ACKNOWLEDGED = range(200, 300)
GOOD_OBJECT = "uploads/good.jpg"

hostile = fuzz_settings(150)

message_ids = (f"{number}" for number in itertools.count(10_000_000))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack() as running:
        running.vision.add_image(uri(GOOD_OBJECT))
        running.vision.add_image(uri("x.jpg"))
        yield running


@dataclass
class Answer:
    status: int
    results: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    vision_uris: list[str]


def send(stack: Stack, headers: dict[str, str], body: bytes) -> Answer:
    """One request through the real functions-framework app; what Pub/Sub, the topic, the logs and
    Vision saw of it."""
    published, asked = len(stack.pubsub.messages()), len(stack.vision.requested_uris())
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = stack.app.test_client().post("/", headers=headers, data=body).status_code
    return Answer(
        status,
        [message.json() for message in stack.pubsub.messages()[published:]],
        log_lines(output.getvalue()),
        stack.vision.requested_uris()[asked:],
    )


def deliver(stack: Stack, data: bytes, shape: str, **message_fields: Any) -> Answer:
    """Deliver raw message data (bytes, as published) in either shape."""
    message_id = next(message_ids)
    if shape == "push":
        body = push_body(b"", message_id)
        body["message"]["data"] = base64.b64encode(data).decode()
        body["message"].update(message_fields)
        return send(stack, {"Content-Type": "application/json"}, json.dumps(body).encode())
    headers, encoded = binary_event(data, message_id)
    return send(stack, headers, encoded)


def assert_handled(answer: Answer) -> None:
    """Acknowledged, with exactly one terminal outcome: a failed/labeled result or a dropped log line
    with a specific code; Vision never asked about anything outside the bucket; and nothing that
    was refused (an id or path with a control or bidi character) echoed anywhere."""
    assert answer.status in ACKNOWLEDGED, f"HTTP {answer.status}: would be retried"
    outcomes = [
        line for line in answer.logs if line.get("status") in {"labeled", "failed", "dropped"}
    ]
    assert len(outcomes) == 1, f"expected one outcome log line, got {answer.logs}"
    assert not [line for line in answer.logs if line.get("status") == "retry"]
    outcome = outcomes[0]
    if outcome["status"] == "dropped":
        assert answer.results == []
        assert outcome["severity"] == "ERROR"
        assert outcome["error_code"] in DROPPED_CODES
        assert outcome["id"] is None
    else:
        assert len(answer.results) == 1, answer.results
        [result] = answer.results
        assert result["status"] == outcome["status"]
        assert id_is_valid(result["id"]), result["id"]
        assert outcome["id"] == result["id"]
        if result["status"] == "failed":
            assert result["error"]["code"] in FAILED_CODES
            if result["error"]["code"] in PATH_CODES:
                assert result["path"] is None, "a refused path is never echoed"
        assert not [text for text in strings(result) if holds_refused(text)], result
    for line in answer.logs:
        assert "path" not in line
        assert line["source_message_id"] is None or not holds_refused(line["source_message_id"])
    for requested in answer.vision_uris:
        assert_in_bucket(requested)


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_in_bucket(requested: str) -> None:
    """An independent statement of what may reach Vision: an object name of our bucket."""
    prefix = f"gs://{BUCKET}/"
    assert requested.startswith(prefix), requested
    assert object_name_is_valid(requested[len(prefix) :]), requested[:80]


# -- properties -----------------------------------------------------------------------------------


@hostile
@given(data=st.binary(max_size=300), shape=shapes)
def test_any_message_bytes_are_acknowledged_never_retried(
    stack: Stack, data: bytes, shape: str
) -> None:
    assert_handled(deliver(stack, data, shape))


@hostile
@given(payload=json_values, shape=shapes)
def test_any_json_shape_is_acknowledged_never_retried(
    stack: Stack, payload: Any, shape: str
) -> None:
    data = json.dumps(payload).encode("utf-8", "surrogatepass")
    assert_handled(deliver(stack, data, shape))


@hostile
@given(
    image_id=ids,
    path=paths,
    extra=st.dictionaries(nasty_text, json_values, max_size=2),
    shape=shapes,
)
def test_hostile_ids_and_paths_get_a_specific_answer_and_never_reach_another_bucket(
    stack: Stack, image_id: Any, path: Any, extra: dict[str, Any], shape: str
) -> None:
    payload = {**extra, "id": image_id, "path": path}
    answer = deliver(stack, json.dumps(payload).encode("utf-8", "surrogatepass"), shape)

    assert_handled(answer)
    if not id_is_valid(image_id):
        assert answer.results == [], "a refused id gets no result"
        assert answer.vision_uris == []
        return
    [result] = answer.results
    assert result["id"] == image_id, "a result answers the id it was asked about"
    name = object_name_in_bucket(path)
    if name is None:
        assert answer.vision_uris == []
        assert (result["status"], result["path"], result["uri"]) == ("failed", None, None)
    else:
        # Only a valid object name of our bucket is ever sent to Vision, and it is echoed.
        assert answer.vision_uris == [f"gs://{BUCKET}/{name}"]
        assert result["path"] == path


@hostile
@given(
    message=st.dictionaries(
        st.sampled_from(["data", "attributes", "messageId", "message_id", "publishTime", "junk"]),
        json_values,
        max_size=6,
    ),
    envelope=st.dictionaries(
        st.sampled_from(["subscription", "deliveryAttempt", "context", "data", "junk"]),
        json_values,
        max_size=3,
    ),
    with_message=st.booleans(),
)
def test_push_bodies_with_missing_or_malformed_envelope_fields_are_acknowledged(
    stack: Stack, message: dict[str, Any], envelope: dict[str, Any], with_message: bool
) -> None:
    body = {**envelope, "message": message} if with_message else envelope
    raw = json.dumps(body).encode("utf-8", "surrogatepass")

    answer = send(stack, {"Content-Type": "application/json"}, raw)

    assert_handled(answer)


@hostile
@given(
    event_type=st.one_of(
        st.just(PUBSUB_EVENT_TYPE), nasty_text.filter(lambda text: text.isprintable())
    ),
    data=st.one_of(st.binary(max_size=100), json_values.map(json.dumps).map(str.encode)),
    drop_header=st.sampled_from([None, "ce-id", "ce-source", "ce-type", "Content-Type"]),
    content_type=st.sampled_from(["application/json", "text/plain", "application/octet-stream"]),
)
def test_cloudevents_of_any_type_or_body_are_acknowledged_and_only_pubsub_ones_processed(
    stack: Stack, event_type: str, data: bytes, drop_header: str | None, content_type: str
) -> None:
    headers, _ = binary_event({"id": 1, "path": "x.jpg"}, next(message_ids), event_type=event_type)
    headers["Content-Type"] = content_type
    if drop_header:
        headers.pop(drop_header, None)

    answer = send(stack, headers, data)

    assert_handled(answer)
    if event_type != PUBSUB_EVENT_TYPE:
        assert answer.results == []
        assert answer.vision_uris == []


# What an HTTP header value can carry: tab, printable ASCII and (obsolete) Latin-1 bytes, NEL included.
header_values = st.text(
    st.one_of(st.just("\t"), st.characters(min_codepoint=0x20, max_codepoint=0xFF)), max_size=60
)


bodies = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda value: json.dumps(value).encode("utf-8", "surrogatepass")),
    st.builds(lambda data: json.dumps(push_body(data)).encode(), st.binary(max_size=200)),
)
request_headers = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "Content-Encoding",
            "ce-specversion",
            "ce-id",
            "ce-type",
            "ce-source",
            "ce-time",
            "ce-subject",
            "ce-datacontenttype",
        ]
    ),
    st.one_of(header_values, st.sampled_from(["1.0", PUBSUB_EVENT_TYPE, "application/json"])),
    max_size=7,
)


@hostile
@given(body=bodies, headers=request_headers)
def test_any_body_with_any_headers_is_acknowledged(
    stack: Stack, body: bytes, headers: dict[str, str]
) -> None:
    assert_handled(send(stack, headers, body))


@hostile
@given(
    size=st.one_of(
        st.integers(MAX_REQUEST_BYTES - 200, MAX_REQUEST_BYTES + 200),
        st.integers(MAX_REQUEST_BYTES, 200_000),
    ),
    shape=shapes,
)
def test_a_request_is_read_up_to_the_size_limit_and_refused_past_it(
    stack: Stack, size: int, shape: str
) -> None:
    """A valid message padded (JSON allows trailing whitespace) to any size around the limit."""
    payload = {"id": 7, "path": GOOD_OBJECT}
    if shape == "push":
        headers = {"Content-Type": "application/json"}
        body = json.dumps(push_body(payload, next(message_ids))).encode()
    else:
        headers, body = binary_event(payload, next(message_ids))
    body += b" " * (size - len(body))

    answer = send(stack, headers, body)

    assert_handled(answer)
    if size <= MAX_REQUEST_BYTES:
        assert [result["status"] for result in answer.results] == ["labeled"]
    else:
        [line] = answer.logs
        assert (line["error_code"], line["request_bytes"]) == ("MESSAGE_TOO_LARGE", size)


def test_a_good_message_in_the_same_stack_is_still_labeled(stack: Stack) -> None:
    """The properties above would pass vacuously on a function that drops everything."""
    for shape in ("push", "cloudevent"):
        answer = deliver(stack, json.dumps({"id": 5, "path": GOOD_OBJECT}).encode(), shape)
        assert_handled(answer)
        assert [result["status"] for result in answer.results] == ["labeled"]
        assert answer.vision_uris == [uri(GOOD_OBJECT)]


def test_an_image_vision_refuses_is_a_specific_failed_result(stack: Stack) -> None:
    stack.vision.add_image(uri("corrupt.jpg"), FakeImage(error_code=3, error_message="Bad image"))
    answer = deliver(stack, json.dumps({"id": "c", "path": "corrupt.jpg"}).encode(), "push")
    assert_handled(answer)
    assert [result["error"]["code"] for result in answer.results] == ["NOT_AN_IMAGE"]
