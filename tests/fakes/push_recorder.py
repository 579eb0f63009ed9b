"""A push endpoint for a real push subscription that records every push as it was sent.

The emulator POSTs to the recorder; the recorder keeps the request (headers and body, untouched) and
answers it: as a hop in front of the function (`forward_to`), it forwards the same bytes and answers
with the function's status, so Pub/Sub sees the function's answer (2xx acknowledges, anything else is
redelivered) and the test sees the wire format; without one, it answers `status` itself.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import requests


@dataclass(frozen=True)
class Push:
    headers: dict[str, str]
    body: bytes
    status: int  # what the function answered
    received_at: float  # time.monotonic() when the push arrived

    def json(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    @property
    def message_id(self) -> str:
        return str(self.json()["message"]["messageId"])

    @property
    def data(self) -> bytes:
        return base64.b64decode(self.json()["message"].get("data", ""))


class PushRecorder:
    def __init__(self, forward_to: str | None = None, status: int = 200) -> None:
        self.forward_to = forward_to
        self.status = status  # what it answers when it forwards nothing
        self._pushes: list[Push] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received_at = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = recorder.status
                try:
                    if recorder.forward_to is not None:
                        status = requests.post(
                            recorder.forward_to,
                            data=body,
                            headers={"Content-Type": headers.get("content-type", "")},
                            timeout=30,
                        ).status_code
                except requests.RequestException:
                    status = 502
                with recorder._lock:
                    recorder._pushes.append(Push(headers, body, status, received_at))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def pushes(self) -> list[Push]:
        with self._lock:
            return list(self._pushes)

    def of(self, data: bytes) -> list[Push]:
        """The pushes that carried a message with these data."""
        return [push for push in self.pushes() if push.data == data]

    def wait_for(self, data: bytes, count: int, timeout: float) -> list[Push]:
        deadline = time.monotonic() + timeout
        while len(self.of(data)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.of(data)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
