"""Whatever a buggy or malicious publisher (or caller) sends, the function acknowledges it with a specific
`failed` result or a structured log line: never an unhandled exception, never a retry, and never a
Vision call for an object outside the images bucket.

Property-based (hypothesis), derandomized so CI runs the same examples every time.
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fakes.events import PUBSUB_EVENT_TYPE, binary_event, push_body
from bench.fakes.vision import FakeImage
from tests.function.conftest import BUCKET, log_lines, uri
from tests.reliability.conftest import Stack, running_stack

ACKNOWLEDGED = range(200, 300)
GOOD_OBJECT = "uploads/good.jpg"
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
FAILED_CODES = {"MISSING_PATH", "INVALID_PATH", "FOREIGN_BUCKET"} | {
    "NOT_AN_IMAGE",
    "IMAGE_NOT_FOUND",
    "IMAGE_UNREADABLE",
}

hostile = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays repeatable
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

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
    """Acknowledged, with exactly one terminal outcome: a failed/labeled result or a dropped log line;
    and Vision never asked about anything outside the bucket."""
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
        assert outcome.get("error_code")
    else:
        assert len(answer.results) == 1, answer.results
        [result] = answer.results
        assert result["status"] == outcome["status"]
        if result["status"] == "failed":
            assert result["error"]["code"] in FAILED_CODES
    for requested in answer.vision_uris:
        assert_in_bucket(requested)


def assert_in_bucket(requested: str) -> None:
    """An independent statement of what may reach Vision: an object name of our bucket."""
    prefix = f"gs://{BUCKET}/"
    assert requested.startswith(prefix), requested
    name = requested[len(prefix) :]
    assert 1 <= len(name.encode("utf-8")) <= 1024, requested[:80]
    assert not any(unicodedata.category(char) == "Cc" or char in BIDI for char in name), name
    assert not {".", ".."} & set(name.split("/")), name


def object_name_is_valid(name: str) -> bool:
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return (
        1 <= size <= 1024
        and not any(unicodedata.category(char) == "Cc" or char in BIDI for char in name)
        and not {".", ".."} & set(name.split("/"))
    )


# -- strategies -----------------------------------------------------------------------------------

nasty_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from([*BIDI, "\x00", "\x1f", "\x7f", "\x85", "/", ".", "\ud800"]),
    ),
    max_size=40,
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=10**30),
    st.integers(max_value=-(2**63) - 1, min_value=-(10**30)),
    nasty_text,
    st.just(""),
    st.just(" \t"),
    st.text(min_size=1000, max_size=1100),
    st.floats(),
    st.booleans(),
    st.none(),
    json_values,
)
object_names = st.one_of(
    nasty_text,
    st.just(GOOD_OBJECT),
    st.text(alphabet="ab/", min_size=1000, max_size=1030),
    st.builds(lambda n: "a" * n, st.sampled_from([1023, 1024, 1025, 5000])),
    st.builds(lambda n: "é" * n, st.sampled_from([511, 512, 513, 2500])),
    st.sampled_from(["..", ".", "a/../b", "./x", "a//b", "a/", "/a", "%2e%2e/x", "a\\..\\b"]),
)
paths = st.one_of(
    object_names,
    st.builds(lambda name: f"gs://{BUCKET}/{name}", object_names),
    st.builds(
        "{}{}".format,
        st.sampled_from(
            [
                "gs://",
                "GS://",
                f"gs://{BUCKET}",
                f"gs://{BUCKET}.evil.com/",
                f"gs://evil-{BUCKET}/",
                f"gs://{BUCKET.upper()}/",
                f"gs://{BUCKET}@evil/",
                f"gs://{BUCKET}%2f/",
                f"gs:///{BUCKET}/",
                "gs://other-bucket/",
                f"gs://other-bucket/{BUCKET}/",
                f"gs://{BUCKET}/gs://other-bucket/",
                f" gs://{BUCKET}/",
                f"https://storage.googleapis.com/{BUCKET}/",
                f"//{BUCKET}/",
                f"gs://\u202e{BUCKET}/",
                f"gs://{BUCKET}\x00/",
            ]
        ),
        object_names,
    ),
    st.builds(lambda n: f"gs://{BUCKET}/" + "p" * n, st.sampled_from([1024, 1025, 5000])),
    json_values,
)
shapes = st.sampled_from(["push", "cloudevent"])


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
    if not answer.results:
        return
    [result] = answer.results
    assert result["id"] == image_id, "a result answers the id it was asked about"
    in_bucket = path[5:] if isinstance(path, str) and path[:5].lower() == "gs://" else None
    if in_bucket is not None and in_bucket.partition("/")[0] != BUCKET:
        assert result["error"]["code"] == "FOREIGN_BUCKET"
        assert answer.vision_uris == []
    if answer.vision_uris:
        # Only a valid object name of our bucket is ever sent to Vision.
        name = in_bucket.partition("/")[2] if in_bucket is not None else path
        assert object_name_is_valid(name)
        assert answer.vision_uris == [f"gs://{BUCKET}/{name}"]
    elif result["status"] == "failed":
        assert result["uri"] is None


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
