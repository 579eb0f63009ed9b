"""A retried event's one log line names the message it is about by its id and Pub/Sub message id (issue
10), so an operator can tell which upload is stuck; never by its path, which may hold a user's
identifiers (issue 17): the path is in the message itself, on the dead-letter subscription."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeImage, FakeVision
from tests.function.conftest import Deliver, log_lines, uri


def retry_line(output: str) -> dict[str, Any]:
    [line] = [line for line in log_lines(output) if line.get("status") == "retry"]
    return line


def test_a_vision_retry_logs_the_messages_ids_not_its_path(
    deliver: Deliver, vision: FakeVision, capsys: pytest.CaptureFixture[str]
) -> None:
    vision.add_image(
        uri("bikes/x.jpg"),
        FakeImage(error_code=14, error_message=f"Error opening file: {uri('bikes/x.jpg')}."),
    )

    assert deliver({"id": 31, "path": "bikes/x.jpg"}, message_id="m-31") == 500

    output = capsys.readouterr().out
    line = retry_line(output)
    assert (line["id"], line["source_message_id"], line["error_code"]) == (31, "m-31", "TRANSIENT")
    assert "path" not in line
    assert "bikes/x.jpg" not in output, "Vision's message quotes the URI: the line must not"
    assert "Error opening file: the image." in line["message"]


def test_a_publish_retry_logs_the_messages_ids_not_its_path(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    vision: FakeVision,
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_env["PUBLISH_TIMEOUT_SECONDS"] = "1"
    vision.add_image(uri("bike.jpg"))
    pubsub.faults.failure_rate = 1.0
    deliver = Deliver(make_app().test_client(), "push")

    assert deliver({"id": 32, "path": "bike.jpg"}, message_id="m-32") == 500

    output = capsys.readouterr().out
    line = retry_line(output)
    assert (line["id"], line["source_message_id"], line["error_code"]) == (32, "m-32", "TRANSIENT")
    assert "bike.jpg" not in output


def test_a_failed_result_whose_publish_is_retried_logs_no_path_either(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_env["PUBLISH_TIMEOUT_SECONDS"] = "1"
    pubsub.faults.failure_rate = 1.0
    deliver = Deliver(make_app().test_client(), "push")

    assert deliver({"id": 33, "path": "gs://other-bucket/x.jpg"}, message_id="m-33") == 500

    output = capsys.readouterr().out
    line = retry_line(output)
    assert (line["id"], line["source_message_id"]) == (33, "m-33")
    assert "other-bucket" not in output
