"""A retried event's one log line names the message it is about: its id and its path (issue 10), so an
operator can tell which upload is stuck without decoding the Pub/Sub message."""

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


def test_a_vision_retry_logs_the_messages_id_and_path(
    deliver: Deliver, vision: FakeVision, capsys: pytest.CaptureFixture[str]
) -> None:
    vision.add_image(uri("bikes/x.jpg"), FakeImage(error_code=14, error_message="try later"))

    assert deliver({"id": 31, "path": "bikes/x.jpg"}) == 500

    line = retry_line(capsys.readouterr().out)
    assert (line["id"], line["path"], line["error_code"]) == (31, "bikes/x.jpg", "TRANSIENT")


def test_a_publish_retry_logs_the_messages_id_and_path(
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

    assert deliver({"id": 32, "path": "bike.jpg"}) == 500

    line = retry_line(capsys.readouterr().out)
    assert (line["id"], line["path"], line["error_code"]) == (32, "bike.jpg", "TRANSIENT")


def test_a_failed_result_whose_publish_is_retried_logs_the_path_as_sent(
    make_app: Callable[[], Flask],
    function_env: dict[str, str],
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_env["PUBLISH_TIMEOUT_SECONDS"] = "1"
    pubsub.faults.failure_rate = 1.0
    deliver = Deliver(make_app().test_client(), "push")

    assert deliver({"id": 33, "path": "gs://other-bucket/x.jpg"}) == 500

    line = retry_line(capsys.readouterr().out)
    assert (line["id"], line["path"]) == (33, "gs://other-bucket/x.jpg")
