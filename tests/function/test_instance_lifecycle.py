"""Per-instance behaviour: clients built once (lazily, thread-safely) and reused; concurrent events
handled independently; one structured log line per event."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient

from labeling.clients import Lazy
from tests.fakes.events import push_body
from tests.fakes.pubsub import FakePubSub
from tests.fakes.vision import FakeVision
from tests.function.conftest import Deliver, log_lines, results, uri


def test_a_lazy_client_is_built_once_even_when_many_threads_ask_at_once() -> None:
    built = []
    gate = threading.Barrier(32)

    def factory() -> object:
        built.append(threading.get_ident())
        return object()

    lazy = Lazy(factory)

    def ask() -> object:
        gate.wait()
        return lazy.get()

    with ThreadPoolExecutor(max_workers=32) as pool:
        values = list(pool.map(lambda _: ask(), range(32)))

    assert len(built) == 1
    assert all(value is values[0] for value in values)


def test_clients_are_not_built_until_the_first_event(
    client: FlaskClient, vision: FakeVision, pubsub: FakePubSub
) -> None:
    import main

    assert main.service is not None
    assert vision.peers == []
    assert pubsub.publish_peers == []


def test_one_instance_reuses_one_connection_per_service_across_concurrent_events(
    client: FlaskClient, vision: FakeVision, pubsub: FakePubSub
) -> None:
    for number in range(20):
        vision.add_image(uri(f"bike-{number}.jpg"))

    def deliver(number: int) -> int:
        body = push_body({"id": number, "path": f"bike-{number}.jpg"})
        return client.post("/", json=body).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(deliver, range(20)))

    assert statuses == [200] * 20
    assert sorted(result["id"] for result in results(pubsub)) == list(range(20))
    assert len(set(vision.peers)) == 1, f"Vision calls came from {set(vision.peers)}"
    assert len(set(pubsub.publish_peers)) == 1, f"Publishes came from {set(pubsub.publish_peers)}"


def test_each_event_logs_exactly_one_structured_line(
    deliver: Deliver, vision: FakeVision, capsys: pytest.CaptureFixture[str]
) -> None:
    vision.add_image(uri("bike.jpg"))
    capsys.readouterr()

    deliver({"id": 1, "path": "bike.jpg"}, message_id="m-1")
    deliver({"id": 2, "path": "gs://elsewhere/x.jpg"}, message_id="m-2")
    deliver({"path": "bike.jpg"}, message_id="m-3")

    lines = log_lines(capsys.readouterr().out)
    assert [(line["severity"], line["status"], line["source_message_id"]) for line in lines] == [
        ("INFO", "labeled", "m-1"),
        ("WARNING", "failed", "m-2"),
        ("ERROR", "dropped", "m-3"),
    ]
    assert lines[0]["id"] == 1
    assert lines[0]["matched"] is True
    assert lines[1]["error_code"] == "FOREIGN_BUCKET"
    required = {"severity", "message", "id", "status", "matched", "latency", "source_message_id"}
    assert all(required <= line.keys() for line in lines), lines
    assert lines[2]["id"] is None
    assert all(isinstance(line["latency_ms"], float) for line in lines)
    assert all(line["message"] for line in lines)


def test_an_unexpected_error_is_logged_once_and_the_message_redelivered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bug must never acknowledge a message without a result: 5xx, so Pub/Sub keeps it."""
    from labeling.config import Settings
    from labeling.service import LabelingService
    from labeling.vision import Annotation

    def broken(_uri: str) -> Annotation:
        raise KeyError("a bug")

    settings = Settings(project_id="p", topic_id="t", bucket_name="test-images")
    published: list[bytes] = []

    def publish(data: bytes, _attributes: dict[str, str]) -> str:
        published.append(data)
        return "1"

    service = LabelingService(settings, annotate=broken, publish=publish)
    data = push_body({"id": 9, "path": "x.jpg"}, message_id="m-9")
    capsys.readouterr()

    with pytest.raises(KeyError):
        service.handle("google.cloud.pubsub.topic.v1.messagePublished", "m-9", data)

    [line] = log_lines(capsys.readouterr().out)
    assert (line["severity"], line["status"], line["error_code"]) == ("ERROR", "retry", "INTERNAL")
    assert line["source_message_id"] == "m-9"
    assert published == []
