"""Bad input is acknowledged, never retried: a specific `failed` result when an id can be read,
otherwise a structured ERROR log line and nothing published."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient

from bench.fakes.events import binary_event, push_body
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeVision
from tests.function.conftest import BUCKET, Deliver, log_lines, only_result, results


@pytest.mark.parametrize(
    ("payload", "code", "echoed_path"),
    [
        ({"id": 5}, "MISSING_PATH", None),
        ({"id": 5, "path": None}, "MISSING_PATH", None),
        ({"id": 5, "path": 42}, "INVALID_PATH", None),
        ({"id": 5, "path": ""}, "INVALID_PATH", ""),
        ({"id": 5, "path": "a\x00b.jpg"}, "INVALID_PATH", "a\x00b.jpg"),
        ({"id": 5, "path": "line\nbreak.jpg"}, "INVALID_PATH", "line\nbreak.jpg"),
        ({"id": 5, "path": "x" * 1025}, "INVALID_PATH", "x" * 1025),
        ({"id": 5, "path": "é" * 513}, "INVALID_PATH", "é" * 513),
        ({"id": 5, "path": "gs://" + BUCKET + "/"}, "INVALID_PATH", f"gs://{BUCKET}/"),
        ({"id": 5, "path": "photos/../../other/x.jpg"}, "INVALID_PATH", "photos/../../other/x.jpg"),
        ({"id": 5, "path": "evil\u202egpj.exe"}, "INVALID_PATH", "evil\u202egpj.exe"),
        ({"id": 5, "path": "gs://other-bucket/x.jpg"}, "FOREIGN_BUCKET", "gs://other-bucket/x.jpg"),
        ({"id": "abc", "path": ["x.jpg"]}, "INVALID_PATH", None),
    ],
)
def test_a_bad_path_with_a_readable_id_gets_a_specific_failed_result(
    deliver: Deliver,
    vision: FakeVision,
    pubsub: FakePubSub,
    payload: dict[str, Any],
    code: str,
    echoed_path: str | None,
) -> None:
    assert deliver(payload) == 200

    result, published = only_result(pubsub)
    assert result["id"] == payload["id"]
    assert result["status"] == "failed"
    assert result["error"]["code"] == code
    assert result["error"]["message"]
    assert result["path"] == echoed_path
    assert result["uri"] is None
    assert result["labels"] == []
    assert result["match"]["matched"] is False
    assert published.attributes == {
        "id": str(payload["id"]),
        "status": "failed",
        "matched": "false",
    }
    assert vision.requests == [], "bad input must never reach Vision"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json at all", "INVALID_JSON"),
        (b"\xff\xfe\x00 invalid utf-8", "INVALID_ENCODING"),
        (b"[1, 2, 3]", "NOT_AN_OBJECT"),
        (b'"just a string"', "NOT_AN_OBJECT"),
        (b"null", "NOT_AN_OBJECT"),
        (b"{" * 100_000, "INVALID_JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "INVALID_JSON"),
        (b'{"id": ' + b"9" * 5000 + b', "path": "x.jpg"}', "INVALID_JSON"),
        ({"path": "image-01.jpg"}, "MISSING_ID"),
        ({"id": None, "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": True, "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": 1.5, "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": "", "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": "   ", "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": 2**64, "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": "x" * 1025, "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": {"nested": 1}, "path": "image-01.jpg"}, "INVALID_ID"),
        ({"id": [1], "path": "image-01.jpg"}, "INVALID_ID"),
        (b'{"id": "\\ud800", "path": "x.jpg"}', "INVALID_ID"),
    ],
)
def test_a_message_without_a_usable_id_is_logged_as_error_and_acknowledged(
    deliver: Deliver,
    vision: FakeVision,
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
    payload: Any,
    code: str,
) -> None:
    capsys.readouterr()

    assert deliver(payload, message_id="777") == 200

    assert results(pubsub) == []
    assert vision.requests == []
    errors = [line for line in log_lines(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert len(errors) == 1, errors
    assert errors[0]["error_code"] == code
    assert errors[0]["status"] == "dropped"
    assert errors[0]["source_message_id"] == "777"


def test_a_push_with_empty_data_is_dropped_with_a_log_line(
    client: FlaskClient, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    body = push_body({"id": 1, "path": "x.jpg"}, message_id="9")
    body["message"]["data"] = ""

    assert client.post("/", json=body).status_code == 200

    assert results(pubsub) == []
    [line] = [line for line in log_lines(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert line["error_code"] == "EMPTY_MESSAGE"


def test_a_push_body_that_is_not_base64_is_dropped(
    client: FlaskClient, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    body = push_body({"id": 1, "path": "x.jpg"})
    body["message"]["data"] = "%%% not base64 %%%"

    assert client.post("/", json=body).status_code == 200

    assert results(pubsub) == []
    [line] = [line for line in log_lines(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert line["error_code"] == "INVALID_BASE64"


@pytest.mark.parametrize(
    "body",
    [
        {"message": {"messageId": "1"}, "subscription": "s"},
        {"subscription": "s"},
        {"message": "not an object", "subscription": "s"},
        {"hello": "world"},
    ],
)
def test_a_request_that_is_not_a_pubsub_delivery_is_acknowledged_not_retried(
    client: FlaskClient, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str], body: Any
) -> None:
    response = client.post("/", json=body)

    assert 200 <= response.status_code < 300
    assert results(pubsub) == []
    errors = [line for line in log_lines(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["status"] == "dropped"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"[1, 2]", "application/json"),
        (b'"a string"', "application/json"),
        (b"{not json", "application/json"),
        (b"plain text", "text/plain"),
        (b"", "application/octet-stream"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_acknowledged_not_retried(
    client: FlaskClient,
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
    data: bytes,
    content_type: str,
) -> None:
    response = client.post("/", data=data, headers={"Content-Type": content_type})

    assert response.status_code == 204
    assert results(pubsub) == []
    [line] = [line for line in log_lines(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert line["error_code"] == "MALFORMED_ENVELOPE"


def test_only_post_is_served_and_probes_are_not_logged(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert client.get("/").status_code == 405
    assert log_lines(capsys.readouterr().out) == []


def test_a_cloudevent_of_another_type_is_acknowledged_not_processed(
    client: FlaskClient, vision: FakeVision, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    headers, body = binary_event(
        {"id": 1, "path": "image-01.jpg"}, event_type="google.cloud.storage.object.v1.finalized"
    )

    assert client.post("/", headers=headers, data=body).status_code == 200

    assert results(pubsub) == []
    assert vision.requests == []
    [line] = [line for line in log_lines(capsys.readouterr().out) if line["severity"] == "ERROR"]
    assert line["error_code"] == "UNSUPPORTED_EVENT_TYPE"


def test_raw_message_data_is_never_logged(
    deliver: Deliver, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "SECRET-PAYLOAD-CONTENT"
    deliver(("not json " + secret).encode())

    output = capsys.readouterr().out
    assert secret not in output
    assert base64.b64encode(secret.encode()).decode() not in output
