"""Bad input is acknowledged, never retried: a specific `failed` result when an id can be read,
otherwise a structured ERROR log line and nothing published."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from bench.fakes.events import binary_event, push_body
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeVision
from tests.function.conftest import BUCKET, Deliver, log_lines, only_result, results, uri


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"id": 5}, "MISSING_PATH"),
        ({"id": 5, "path": None}, "MISSING_PATH"),
        ({"id": 5, "path": 42}, "INVALID_PATH"),
        ({"id": 5, "path": ""}, "INVALID_PATH"),
        ({"id": 5, "path": "a\x00b.jpg"}, "INVALID_PATH"),
        ({"id": 5, "path": "line\nbreak.jpg"}, "INVALID_PATH"),
        ({"id": 5, "path": "x" * 1025}, "INVALID_PATH"),
        ({"id": 5, "path": "é" * 513}, "INVALID_PATH"),
        ({"id": 5, "path": "gs://" + BUCKET + "/"}, "INVALID_PATH"),
        ({"id": 5, "path": "photos/../../other/x.jpg"}, "INVALID_PATH"),
        ({"id": 5, "path": "evil\u202egpj.exe"}, "INVALID_PATH"),
        ({"id": 5, "path": "two\u2028lines.jpg"}, "INVALID_PATH"),
        ({"id": 5, "path": "\u200b"}, "INVALID_PATH"),
        ({"id": 5, "path": "gs://other-bucket/x.jpg"}, "FOREIGN_BUCKET"),
        ({"id": "abc", "path": ["x.jpg"]}, "INVALID_PATH"),
    ],
)
def test_a_bad_path_with_a_readable_id_gets_a_specific_failed_result_without_the_path(
    deliver: Deliver,
    vision: FakeVision,
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
    payload: dict[str, Any],
    code: str,
) -> None:
    """Issue 17: a refused path is never echoed, in the result or the log line (it was before)."""
    capsys.readouterr()

    assert deliver(payload) == 200

    result, published = only_result(pubsub)
    assert result["id"] == payload["id"]
    assert result["status"] == "failed"
    assert result["error"]["code"] == code
    assert result["error"]["message"]
    assert result["path"] is None
    assert result["uri"] is None
    assert result["labels"] == []
    assert result["match"]["matched"] is False
    assert published.attributes == {
        "id": str(payload["id"]),
        "status": "failed",
        "matched": "false",
    }
    assert vision.requests == [], "bad input must never reach Vision"
    refused = payload.get("path")
    if isinstance(refused, str) and len(refused) > 5:
        assert refused not in published.data.decode()
        assert json.dumps(refused) not in capsys.readouterr().out


@pytest.mark.parametrize(
    "image_id",
    [
        "abc\ndef",
        "line\r\nforged",
        "\x1b[31mred",
        "nul\x00",
        "del\x7f",
        "next\x85line",
        "evil\u202egpj",
        "isolate\u2066x\u2069",
        "mark\u200f",
        "arabic\u061cmark",
        "line\u2028separator",
        "paragraph\u2029separator",
        "bom\ufeff",
        "shaping\u206a",
        "annotation\ufff9x\ufffb",
        "non\ufffecharacter",
        "non\ufdd0character",
        "\u200b",
        "\u3164\u3164",
        " \u200d ",
    ],
)
def test_an_id_with_control_or_bidi_characters_is_refused_and_never_echoed(
    deliver: Deliver,
    vision: FakeVision,
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
    image_id: str,
) -> None:
    """Issue 17: a string id obeys the object name's character rules (no controls, no line or
    paragraph separators, nothing that disguises text, something visible); a refused id gets no
    result (it could only echo what was refused) but one ERROR line that does not quote it."""
    capsys.readouterr()

    assert deliver({"id": image_id, "path": "image-01.jpg"}, message_id="778") == 200

    assert results(pubsub) == []
    assert vision.requests == []
    output = capsys.readouterr().out
    [line] = [line for line in log_lines(output) if line["severity"] == "ERROR"]
    assert (line["error_code"], line["status"], line["id"]) == ("INVALID_ID", "dropped", None)
    assert line["source_message_id"] == "778"
    assert json.dumps(image_id)[1:-1] not in output


@pytest.mark.parametrize(
    "image_id", ["user-7", "ユーザー7", "emoji-\U0001f6b2", "zwj-\U0001f468\u200d\U0001f469", "a b"]
)
def test_an_id_of_printable_text_is_answered_as_received(
    deliver: Deliver, vision: FakeVision, pubsub: FakePubSub, image_id: str
) -> None:
    """The character rule refuses controls, not languages: these ids get their result."""
    vision.add_image(uri("image-01.jpg"))

    assert deliver({"id": image_id, "path": "image-01.jpg"}) == 200

    result, published = only_result(pubsub)
    assert (result["id"], result["status"], published.attributes["id"]) == (
        image_id,
        "labeled",
        image_id,
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json at all", "INVALID_JSON"),
        (b"\xff\xfe\x00 invalid utf-8", "INVALID_ENCODING"),
        (b"[1, 2, 3]", "NOT_AN_OBJECT"),
        (b'"just a string"', "NOT_AN_OBJECT"),
        (b"null", "NOT_AN_OBJECT"),
        # Nested far deeper than the parser recurses, within the request size limit.
        (b"{" * 20_000, "INVALID_JSON"),
        (b"[" * 10_000 + b"]" * 10_000, "INVALID_JSON"),
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
