"""Log lines never carry the object name, which may hold a user's identifiers (issue 17, finding 12):
an event is found by its id and Pub/Sub message id, and its path is in its result or its message."""

from __future__ import annotations

from typing import Any

import pytest

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeImage, FakeVision
from tests.function.conftest import BUCKET, Deliver, log_lines, results, uri

NAME = "users/alice.smith@example.com/id-card.jpg"
# What every event line holds (labeling.logs.log_outcome), and nothing else.
EVENT_KEYS = {
    "severity",
    "message",
    "id",
    "status",
    "matched",
    "error_code",
    "decision",
    "source_message_id",
    "latency",
    "latency_ms",
}


@pytest.mark.parametrize(
    ("image", "payload", "status"),
    [
        (FakeImage(), {"id": 1, "path": NAME}, "labeled"),
        (FakeImage(), {"id": 1, "path": f"gs://{BUCKET}/{NAME}"}, "labeled"),
        # Vision quotes the URI in its message ("Error opening file: gs://...").
        (
            FakeImage(error_code=7, error_message=f"Error opening file: {uri(NAME)}."),
            {"id": 1, "path": NAME},
            "failed",
        ),
        (
            FakeImage(error_code=14, error_message=f"Error opening file: {uri(NAME)}."),
            {"id": 1, "path": NAME},
            "retry",
        ),
        (None, {"id": 1, "path": f"gs://elsewhere/{NAME}"}, "failed"),
        (None, {"id": 1, "path": f"{NAME}\n"}, "failed"),
        (None, {"id": "\x1b[2J", "path": NAME}, "dropped"),
    ],
)
def test_no_log_line_holds_the_object_name(
    deliver: Deliver,
    vision: FakeVision,
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
    image: FakeImage | None,
    payload: dict[str, Any],
    status: str,
) -> None:
    if image is not None:
        vision.add_image(uri(NAME), image)
    capsys.readouterr()

    deliver(payload, message_id="m-1")

    output = capsys.readouterr().out
    [line] = [line for line in log_lines(output) if line.get("status")]
    assert line["status"] == status
    assert set(line) == EVENT_KEYS
    assert line["source_message_id"] == "m-1"
    assert "alice" not in output
    if status in {"labeled", "failed"}:
        assert line["id"] == 1
    if image is not None and status != "retry":
        [result] = results(pubsub)
        assert result["path"] == payload["path"], "the result keeps the path the log line drops"
