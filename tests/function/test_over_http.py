"""The function as it is deployed: `functions-framework` as a real process, real HTTP on loopback, and the
real Google clients talking to the wire fakes through VISION_EMULATOR_HOST / PUBSUB_EMULATOR_HOST."""

from __future__ import annotations

import requests

from bench.fakes.events import binary_event, push_body
from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import CAT_LABELS, FakeImage, FakeVision
from ops.function_server import FunctionServer
from tests.function.conftest import TOPIC_PATH, log_lines, uri


def test_the_deployed_server_labels_both_delivery_shapes_over_http(
    function_env: dict[str, str], vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("bike.jpg"))
    vision.add_image(uri("cat.jpg"), FakeImage(labels=CAT_LABELS))
    server = FunctionServer({**function_env, "THREADS": "8"})

    with server, requests.Session() as http:
        pushed = http.post(server.url, json=push_body({"id": 1, "path": "bike.jpg"}), timeout=30)
        headers, body = binary_event({"id": 2, "path": "cat.jpg"})
        eventarc = http.post(server.url, headers=headers, data=body, timeout=30)
        again = http.post(server.url, json=push_body({"id": 3, "path": "bike.jpg"}), timeout=30)

    assert pushed.status_code == 200
    assert eventarc.status_code == 200
    assert again.status_code == 200
    by_id = {message.json()["id"]: message for message in pubsub.messages(TOPIC_PATH)}
    assert by_id[1].json()["match"]["matched"] is True
    assert by_id[1].attributes == {"id": "1", "status": "labeled", "matched": "true"}
    assert by_id[2].json()["match"]["matched"] is False
    events = [line for line in log_lines(server.output()) if "status" in line]
    assert [(line["id"], line["status"], line["matched"]) for line in events] == [
        (1, "labeled", True),
        (2, "labeled", False),
        (3, "labeled", True),
    ]
    for line in events:
        assert line["severity"] == "INFO"
        assert line["latency_ms"] >= 0
        assert line["source_message_id"]


def test_a_transient_vision_failure_over_http_is_a_5xx_so_pubsub_redelivers(
    function_env: dict[str, str], vision: FakeVision, pubsub: FakePubSub
) -> None:
    vision.add_image(uri("bike.jpg"), FakeImage(error_code=14, error_message="unavailable"))

    with FunctionServer(function_env) as server:
        response = requests.post(
            server.url, json=push_body({"id": 1, "path": "bike.jpg"}), timeout=30
        )
        output = server.output()

    assert response.status_code == 500
    assert pubsub.messages() == []
    [line] = [line for line in log_lines(output) if line.get("status") == "retry"]
    assert line["severity"] == "ERROR"
    assert line["id"] == 1
    assert line["matched"] is False
    assert line["error_code"] == "TRANSIENT"
    assert line["latency"].endswith("s")


def test_the_server_refuses_to_start_without_its_topic_and_names_the_variable(
    function_env: dict[str, str], pubsub: FakePubSub
) -> None:
    env = {key: value for key, value in function_env.items() if key != "TOPIC_ID"}
    server = FunctionServer(env)

    try:
        server.start(timeout=30)
    except RuntimeError as error:
        message = str(error)
    else:
        server.stop()
        message = "started"

    assert "exited" in message
    assert "TOPIC_ID" in message
    assert pubsub.messages() == []
