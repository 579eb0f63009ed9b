"""The program client (make local's seed, the end-to-end tests) rides out a transient 503 as the upload
screen does. It used to give up on the first one: the service answers 503 when a Firestore call
outlasts its 5 s deadline on a loaded machine, where a run of the suite once failed make local's seed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from ops.emulators import free_port
from user_service.local.client import ApiRefused, UploadsClient

UPLOAD_ID = "a" * 32
ENTRY: dict[str, Any] = {"id": UPLOAD_ID, "state": "accepted", "final": True}
Answer = tuple[int, dict[str, Any]]
QUICK = (0.01, 0.02, 0.04, 0.08)  # the same number of retries as the real schedule, shortened


class ScriptedService:
    """A loopback HTTP server answering each request with the next (status, body) of `answers`."""

    def __init__(self, answers: list[Answer], port: int = 0) -> None:
        self.answers = answers
        self.requests: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept alive: the client's session pools the connection

            def do_GET(self) -> None:
                service.requests.append(self.path)
                status, body = service.answers.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[list[ScriptedService]]:
    started: list[ScriptedService] = []
    yield started
    for service in started:
        service.close()


def serving(scripted: list[ScriptedService], *answers: Answer) -> str:
    scripted.append(ScriptedService(list(answers)))
    return scripted[-1].url


def test_a_503_is_asked_again_until_the_service_answers(scripted: list[ScriptedService]) -> None:
    unavailable: Answer = (503, {"error": "a peer is unavailable, try again"})
    client = UploadsClient(serving(scripted, unavailable, unavailable, (200, ENTRY)), QUICK)
    assert client.read(UPLOAD_ID) == ENTRY
    assert len(scripted[0].requests) == 3


def test_a_503_through_every_retry_is_refused_with_the_services_message(
    scripted: list[ScriptedService],
) -> None:
    answers: list[Answer] = [(503, {"error": f"unavailable {n}"}) for n in range(len(QUICK) + 1)]
    client = UploadsClient(serving(scripted, *answers), QUICK)
    with pytest.raises(ApiRefused) as refused:
        client.read(UPLOAD_ID)
    assert (refused.value.status, refused.value.message) == (503, f"unavailable {len(QUICK)}")
    assert len(scripted[0].requests) == len(QUICK) + 1


def test_a_refusal_is_final_and_asked_once(scripted: list[ScriptedService]) -> None:
    client = UploadsClient(serving(scripted, (404, {"error": "no such upload"})), QUICK)
    with pytest.raises(ApiRefused, match="HTTP 404: no such upload"):
        client.read(UPLOAD_ID)
    assert len(scripted[0].requests) == 1


def test_a_service_that_never_answers_is_a_connection_error_after_the_retries() -> None:
    client = UploadsClient(f"http://127.0.0.1:{free_port()}", QUICK)
    with pytest.raises(requests.ConnectionError):
        client.read(UPLOAD_ID)


def test_one_client_is_served_again_after_the_service_was_down_for_seconds(
    scripted: list[ScriptedService],
) -> None:
    """The client's session (its pooled connection) outlives an outage: the service goes away for
    2 s and comes back on the same port, within the real retry schedule (0.5, 1, 2, 4 s)."""
    client = UploadsClient(serving(scripted, (200, ENTRY)))
    assert client.read(UPLOAD_ID) == ENTRY
    port = int(scripted[0].url.rsplit(":", 1)[1])
    scripted.pop().close()

    def come_back() -> None:
        time.sleep(2)
        scripted.append(ScriptedService([(200, ENTRY)], port))

    returning = threading.Thread(target=come_back)
    returning.start()
    try:
        assert client.read(UPLOAD_ID) == ENTRY
    finally:
        returning.join(10)
        client.close()
    assert scripted[0].requests == [f"/api/uploads/{UPLOAD_ID}"]
