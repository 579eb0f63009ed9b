"""The User-Service's HTTP API as a program uses it: what the upload screen does, without a browser.

    client = UploadsClient("http://127.0.0.1:8090")       # one owner (its cookie), like one browser
    upload_id = client.upload(photo_bytes, "image/png")    # POST /api/uploads, PUT, POST .../done
    entry, seconds = client.wait_final(upload_id, timeout=60)

Used by `make local`'s seed scenario (ops/local.py) and the end-to-end tests. Errors are ApiRefused
with the service's own message (every error of the API is JSON {"error": ...}). Like the upload screen
(static/upload.js), a 503 or no answer is asked again a few times over about 8 s: the service answers
503 for a peer briefly unavailable (a slow Firestore call, a contended entry).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests

REQUEST_TIMEOUT_SECONDS = 30.0
RETRY_DELAYS_SECONDS = (0.5, 1.0, 2.0, 4.0)  # as the upload screen's RETRY_DELAYS_MS


class ApiRefused(RuntimeError):
    """The service (or the storage, for the PUT) answered with an error; the message says which."""

    def __init__(self, step: str, status: int, message: str) -> None:
        super().__init__(f"{step}: HTTP {status}: {message}")
        self.step = step
        self.status = status
        self.message = message


def _error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("error")) if isinstance(body, dict) else str(body)[:200]


class UploadsClient:
    """One owner's session with the service at `base_url` (the owner cookie is kept)."""

    def __init__(self, base_url: str, retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.retry_delays = retry_delays

    def close(self) -> None:
        self.session.close()

    def _call(self, step: str, method: str, path: str, **options: Any) -> dict[str, Any]:
        for delay in (*self.retry_delays, None):
            try:
                response = self.session.request(
                    method, f"{self.base_url}{path}", timeout=REQUEST_TIMEOUT_SECONDS, **options
                )
            except requests.ConnectionError:
                if delay is None:
                    raise
            else:
                if response.status_code != 503 or delay is None:
                    break
            time.sleep(delay)
        if response.status_code >= 400:
            raise ApiRefused(step, response.status_code, _error(response))
        body: dict[str, Any] = response.json()
        return body

    def create(self, content_type: str, size: int) -> dict[str, Any]:
        """2a/2b: the entry and its signed upload (`{"id", "upload", "entry"}`)."""
        return self._call(
            "POST /api/uploads",
            "POST",
            "/api/uploads",
            json={"content_type": content_type, "size": size},
        )

    @staticmethod
    def put(upload: Mapping[str, Any], data: bytes) -> None:
        """The browser's PUT straight to the bucket, with exactly the signed headers."""
        response = requests.request(
            str(upload["method"]),
            str(upload["url"]),
            data=data,
            headers=dict(upload["headers"]),
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        if response.status_code >= 400:
            raise ApiRefused("PUT to the signed URL", response.status_code, response.text[:200])

    def done(self, upload_id: str) -> dict[str, Any]:
        """2c: the service checks the object and announces it."""
        return self._call("POST /api/uploads/<id>/done", "POST", f"/api/uploads/{upload_id}/done")

    def read(self, upload_id: str) -> dict[str, Any]:
        """7b: the entry as its owner sees it."""
        return self._call("GET /api/uploads/<id>", "GET", f"/api/uploads/{upload_id}")

    def upload(self, data: bytes, content_type: str) -> str:
        """The three steps the screen takes for one photo; its upload id."""
        created = self.create(content_type, len(data))
        self.put(created["upload"], data)
        self.done(created["id"])
        return str(created["id"])

    def wait_final(
        self, upload_id: str, timeout: float, interval: float = 0.05
    ) -> tuple[dict[str, Any], bool]:
        """Reads the entry until it is final or `timeout` passed: (the last entry, final?)."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.read(upload_id)
            if entry.get("final") or time.monotonic() >= deadline:
                return entry, bool(entry.get("final"))
            time.sleep(interval)
