"""Per-instance behaviour: clients built once (lazily, thread-safely) and reused; concurrent events
handled independently; one structured log line per event."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import google.auth
import grpc
import pytest
from flask.testing import FlaskClient
from google.api_core import grpc_helpers
from google.auth.credentials import AnonymousCredentials

from bench.fakes.events import push_body
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeVision
from labeling import clients
from labeling.clients import CHANNEL_OPTIONS, Lazy, build_publisher, build_vision_client
from labeling.config import IN_CALL_RETRY_SECONDS, Settings
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


def test_a_lazy_client_whose_factory_failed_is_built_again_on_the_next_call() -> None:
    """A client that could not be built (credentials not reachable yet) must not stay broken."""
    attempts = []

    def factory() -> object:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("metadata server not reachable yet")
        return object()

    lazy = Lazy(factory)
    with pytest.raises(RuntimeError):
        lazy.get()
    value = lazy.get()

    assert lazy.get() is value
    assert len(attempts) == 2


@pytest.mark.parametrize("emulated", [False, True], ids=["google", "emulator"])
@pytest.mark.parametrize("build", [build_vision_client, build_publisher])
def test_every_client_channel_reconnects_quickly_and_keeps_alive(
    monkeypatch: pytest.MonkeyPatch, build: Callable[[Settings], object], emulated: bool
) -> None:
    """The channels outlive requests: capped reconnect backoff (a peer back on its address is seen
    within the in-call retry) and keepalive (a dead connection is replaced), on Google's endpoints
    and the emulators alike. tests/reliability/test_outages.py shows what the cap changes."""
    channel_options: list[dict[str, object]] = []
    insecure_channel = grpc.insecure_channel

    def record(
        target: str, *args: object, options: Sequence[tuple[str, object]] = (), **kw: object
    ) -> grpc.Channel:
        channel_options.append(dict(options))
        return insecure_channel("127.0.0.1:1")

    monkeypatch.setattr(grpc_helpers, "create_channel", record)
    monkeypatch.setattr(clients.grpc, "insecure_channel", record)
    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), "p"))
    host = "127.0.0.1:1" if emulated else None
    settings = Settings(
        project_id="p",
        topic_id="t",
        bucket_name="b",
        vision_emulator_host=host,
        pubsub_emulator_host=host,
    )

    build(settings)

    [options] = channel_options
    assert options.items() >= dict(CHANNEL_OPTIONS).items(), options
    assert float(str(options["grpc.max_reconnect_backoff_ms"])) <= IN_CALL_RETRY_SECONDS * 1000 / 2


class BrokenStream(io.StringIO):
    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_stdout_never_changes_an_events_outcome(
    monkeypatch: pytest.MonkeyPatch,
    deliver: Deliver,
    vision: FakeVision,
    pubsub: FakePubSub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The log collector went away: the event is still acknowledged once its result is published
    (a 5xx would redeliver it, and every later event), and its line goes to stderr instead."""
    vision.add_image(uri("bike.jpg"))
    deliver({"id": 1, "path": "bike.jpg"}, message_id="m-0")  # clients built, stdout intact
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", BrokenStream())

    statuses = [deliver({"id": n, "path": "bike.jpg"}, message_id=f"m-{n}") for n in (2, 3)]

    assert statuses == [200, 200]
    assert [result["id"] for result in results(pubsub)] == [1, 2, 3]
    lines = log_lines(capsys.readouterr().err)
    assert [line["source_message_id"] for line in lines] == ["m-2", "m-3"]
