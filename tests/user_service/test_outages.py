"""Firestore away for seconds: requests get a prompt 503 ("try again"), never a hang or a bare 500,
and the same instance (its client and channel outlive every request) serves again once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ops.emulators import FirestoreEmulator
from tests.fakes.emulator import running
from tests.user_service.conftest import Api, make_api
from tests.user_service.harness import Topics, put_object, result, wait_for
from user_uploads.entries import CALL_TIMEOUT_SECONDS

JPEG = b"\xff\xd8\xff\xe0" + bytes(100)
# gRPC's reconnect backoff after refused connections (grows to 120 s by default) decides this.
RECOVERY_SECONDS = 60


def _created(api: Api) -> dict[str, Any] | None:
    response = api.create("image/jpeg", len(JPEG))
    return response.json if response.status_code == 201 else None


@pytest.fixture
def private_firestore() -> Iterator[FirestoreEmulator]:
    yield from running(FirestoreEmulator())


@pytest.mark.slow
def test_a_firestore_outage_is_a_prompt_503_and_the_service_recovers(
    service_environment: dict[str, str],
    topics: Topics,
    private_firestore: FirestoreEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topics.create()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", private_firestore.host)
    api: Api = make_api({**service_environment, "FIRESTORE_EMULATOR_HOST": private_firestore.host})
    before = api.create("image/jpeg", len(JPEG)).json
    assert api.read(before["id"]).status_code == 200

    private_firestore.stop()
    started = time.monotonic()
    during = api.read(before["id"])
    assert during.status_code == 503
    assert "try again" in during.json["error"]
    assert time.monotonic() - started < CALL_TIMEOUT_SECONDS + 5
    pushed = api.deliver(result(before["id"], "uploads/x.jpg"))
    assert pushed.status_code == 503, "a result in an outage is redelivered by Pub/Sub, not dropped"

    # Back on the same address (the emulator keeps nothing, like a new database): the same app
    # and its client serve again.
    private_firestore.start()
    upload = wait_for(lambda: _created(api), timeout=RECOVERY_SECONDS, interval=0.5)
    assert put_object(upload["upload"], JPEG).status_code == 200
    assert api.done(upload["id"]).status_code == 202
    assert api.read(upload["id"]).json["state"] == "pending"
