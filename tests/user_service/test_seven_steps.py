"""The seven steps of the design end to end, with the REAL function (issue 18): the User-Service and
the AI-Service as `make local` runs them (ops.local.LocalStack), on Google's Pub/Sub and Firestore
emulators (the session's, each stack in a project of its own), the storage emulator, the local Vision
emulator and functions-framework processes. Every step is observed where it leaves its trace: the
Firestore entry, the object in the bucket, the announcement, the result, the entry's final state.

Then the consumer-side contract cases that only the real function produces: the same announcement
delivered twice, a failed result for an object that is not there (after a verdict, and before one),
and a message dead-lettered during a Vision outage, later redriven with `ops.redrive`, completing the
entry that read "delayed" meanwhile.
"""

from __future__ import annotations

import datetime
import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from playwright.sync_api import BrowserContext, expect

from ops import redrive
from ops.emulators import (
    FirestoreEmulator,
    PubSubEmulator,
    VisionEmulator,
    emulator_environment,
    pubsub_clients,
)
from ops.journeys import object_name
from ops.local import (
    VISION_EMULATOR,
    VISION_MODULES,
    VISION_STAND_IN,
    LocalStack,
    local_settings,
)
from ops.scenario import DEFAULT_MANIFEST
from tests.user_service.browser import browser, placed
from tests.user_service.harness import wait_for
from user_service.local.client import UploadsClient

SAMPLES = DEFAULT_MANIFEST.parent
BICYCLE = (SAMPLES / "bicycle.png").read_bytes()
HOUSE = (SAMPLES / "house.png").read_bytes()
NEW_IMAGE_TOPIC = "user-service-new-image"
LABELED_TOPIC = "ai-service-image-labeled"
VERDICT_SECONDS = 60.0
__all__ = ["browser"]  # the fixture, from tests/user_service/browser.py


@dataclass
class Probe:
    """A pull subscription of the test's own on a topic: what was published there, by id."""

    subscriber: SubscriberClient
    path: str
    seen: list[Any] = field(default_factory=list)

    def messages(
        self, upload_id: str, count: int = 1, timeout: float = VERDICT_SECONDS
    ) -> list[Any]:
        """The first `count` messages about `upload_id` (waiting up to `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [m for m in self.seen if json.loads(m.data).get("id") == upload_id]
            if len(mine) >= count:
                return mine[:count]
            try:
                response = self.subscriber.pull(
                    request={"subscription": self.path, "max_messages": 50}, timeout=2, retry=None
                )
            except api_exceptions.DeadlineExceeded:
                continue
            if response.received_messages:
                self.subscriber.acknowledge(
                    request={
                        "subscription": self.path,
                        "ack_ids": [item.ack_id for item in response.received_messages],
                    }
                )
                self.seen.extend(item.message for item in response.received_messages)
            else:
                time.sleep(0.05)
        raise AssertionError(f"fewer than {count} message(s) about {upload_id} within {timeout} s")


@dataclass
class System:
    stack: LocalStack
    publisher: PublisherClient
    subscriber: SubscriberClient
    announcements: Probe
    results: Probe
    entries: firestore.CollectionReference
    bucket: storage.Bucket

    def client(self) -> UploadsClient:
        return UploadsClient(self.stack.user_service.url)

    def announce(self, upload_id: str, path: str) -> None:
        """Publishes `{"id", "path"}` as the User-Service does (a redelivery, or a redrive)."""
        topic = self.publisher.topic_path(self.stack.project, NEW_IMAGE_TOPIC)
        data = json.dumps({"id": upload_id, "path": path}).encode()
        self.publisher.publish(topic, data).result(timeout=30)

    def outcomes(self, upload_id: str) -> list[str]:
        """What the User-Service did with each result for `upload_id`, from its own log lines."""
        found = []
        for line in self.stack.user_service.output().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("id") == upload_id and "outcome" in event:
                found.append(str(event["outcome"]))
        return found

    def entry(self, upload_id: str) -> dict[str, Any]:
        stored = self.entries.document(upload_id).get().to_dict()
        assert stored is not None, f"no Firestore entry {upload_id}"
        return stored


def open_system(stack: LocalStack) -> System:
    """Starts the stack, with probe subscriptions on both contract topics, and its storage and
    Firestore as an operator sees them."""
    stack.start()
    publisher, subscriber = pubsub_clients(stack.pubsub_host)
    probes = []
    for topic in (NEW_IMAGE_TOPIC, LABELED_TOPIC):
        path = subscriber.subscription_path(stack.project, f"probe-{topic}")
        subscriber.create_subscription(
            name=path, topic=publisher.topic_path(stack.project, topic), timeout=30
        )
        probes.append(Probe(subscriber, path))
    with emulator_environment(storage=stack.storage_url):
        bucket = storage.Client(project="test", credentials=AnonymousCredentials()).bucket(
            stack.bucket
        )
    database = firestore.Client(project=stack.project, credentials=AnonymousCredentials())
    return System(
        stack,
        publisher,
        subscriber,
        probes[0],
        probes[1],
        database.collection("uploads"),
        bucket,
    )


@pytest.fixture(scope="module")
def system(
    firestore_emulator: FirestoreEmulator,
    pubsub_emulator: PubSubEmulator,
    monkeypatch_module: pytest.MonkeyPatch,
) -> Iterator[System]:
    monkeypatch_module.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    stack = LocalStack(
        # Objects asked for too: the results carry boxes, which the screen frames.
        local_settings(
            {"visionFeatures": "LABEL_DETECTION,OBJECT_LOCALIZATION"},
            project=f"seven-{uuid.uuid4().hex[:10]}",
        ),
        VISION_EMULATOR,  # the local Vision emulator's model, not the stand-in
        pubsub=pubsub_emulator,
        firestore=firestore_emulator,
    )
    try:
        opened = open_system(stack)
        yield opened
        opened.subscriber.close()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def upload_through_every_step(
    system: System, data: bytes
) -> tuple[UploadsClient, str, str, dict[str, Any]]:
    """Steps 1 to 7, each checked where it shows: (client, id, path, the final entry's view)."""
    client = system.client()
    created = client.create("image/png", len(data))
    upload_id, path = created["id"], object_name(created["upload"]["url"])
    # 2a: the entry, pending, its object named by the service; nothing in the bucket yet.
    stored = system.entry(upload_id)
    assert (stored["state"], stored["object_name"], stored["announced_at"]) == (
        "pending",
        path,
        None,
    )
    assert path == f"uploads/{upload_id}.png"
    assert not system.bucket.blob(path).exists()
    # 2b: the browser's PUT puts the photo in the bucket, as it is.
    client.put(created["upload"], data)
    assert system.bucket.blob(path).download_as_bytes() == data
    # 2c: checked, then announced: exactly the contract's {"id", "path"}.
    assert client.done(upload_id)["state"] == "pending"
    [announcement] = system.announcements.messages(upload_id)
    assert json.loads(announcement.data) == {"id": upload_id, "path": path}
    assert system.entry(upload_id)["announcement_id"] == announcement.message_id
    # 3-6: the function labels it and publishes its result for that very message.
    [result] = system.results.messages(upload_id)
    body = json.loads(result.data)
    assert (body["id"], body["path"], body["status"]) == (upload_id, path, "labeled")
    assert body["uri"] == f"gs://{system.stack.bucket}/{path}"
    assert body["source_message_id"] == announcement.message_id
    # 7: the User-Service keeps the verdict; the owner reads it.
    entry, final = client.wait_final(upload_id, VERDICT_SECONDS)
    assert final, entry
    assert [(label["description"], label["score"]) for label in entry["labels"]] == [
        (label["description"], label["score"]) for label in body["labels"]
    ]
    return client, upload_id, path, entry


@pytest.mark.slow
def test_a_bicycle_goes_through_the_seven_steps_and_is_accepted(system: System) -> None:
    _, upload_id, path, entry = upload_through_every_step(system, BICYCLE)
    assert entry["state"] == "accepted"
    assert entry["labels"][0]["description"] == "Bicycle"
    assert entry["message"].startswith("Allowed: Bicycle found")
    stored = system.entry(upload_id)
    assert stored["state"] == "accepted"
    assert stored["result"]["status"] == "labeled"
    assert system.bucket.blob(path).exists(), "an allowed photo is kept"


@pytest.mark.slow
def test_the_screen_shows_the_verdict_and_frames_the_bicycle_where_vision_found_it(
    system: System, browser: BrowserContext
) -> None:
    """The seven steps from the upload screen in chromium: the bicycle allowed, framed by the box
    the Vision emulator's OBJECT_LOCALIZATION gave, where that box says."""
    page = browser.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.goto(system.stack.screen_url)
    page.set_input_files("#file", str(SAMPLES / "bicycle.png"))
    card = page.locator("article.upload").first
    expect(card).to_have_attribute("data-state", "accepted", timeout=VERDICT_SECONDS * 1000)
    expect(card.locator(".verdict")).to_have_text("Allowed")
    upload_id = card.get_attribute("data-id")
    assert upload_id
    [found] = [item for item in system.entry(upload_id)["objects"] if item["name"] == "Bicycle"]
    box = card.locator(".photo .box", has_text="Bicycle").first
    expect(box).to_be_visible()
    where = placed(box, card.locator(".photo img"))
    assert where == pytest.approx(found["box"], abs=0.02), (where, found)
    page.close()
    assert failures == []


@pytest.mark.slow
def test_a_house_goes_through_the_seven_steps_is_blocked_and_deleted(system: System) -> None:
    _, upload_id, path, entry = upload_through_every_step(system, HOUSE)
    assert entry["state"] == "blocked"
    assert "Bicycle" not in [label["description"] for label in entry["labels"]]
    [result] = system.results.messages(upload_id)
    assert json.loads(result.data)["match"]["matched"] is False
    # The service deletes the object and then records it: wait for the record, the later step.
    wait_for(lambda: system.entry(upload_id).get("image_deleted_at") is not None, VERDICT_SECONDS)
    assert not system.bucket.blob(path).exists()


@pytest.mark.slow
def test_the_same_announcement_twice_leaves_one_accepted_entry(system: System) -> None:
    """At-least-once: the function labels a redelivered announcement again; the entry keeps its
    state and its completion time, and holds the later result."""
    client, upload_id, path, entry = upload_through_every_step(system, BICYCLE)
    first = system.entry(upload_id)
    system.announce(upload_id, path)  # what a redelivery of the announcement looks like
    first_result, second_result = system.results.messages(upload_id, count=2)
    later = json.loads(second_result.data)
    assert later["status"] == "labeled"
    assert later["processed_at"] > json.loads(first_result.data)["processed_at"]
    wait_for(
        lambda: system.entry(upload_id)["result"]["processed_at"] == later["processed_at"],
        VERDICT_SECONDS,
    )
    # The log line follows the stored entry (it is written once the transaction is committed).
    assert wait_for(lambda: len(system.outcomes(upload_id)) == 2, VERDICT_SECONDS)
    assert system.outcomes(upload_id) == ["applied", "applied"]
    again = system.entry(upload_id)
    assert (again["state"], again["completed_at"]) == ("accepted", first["completed_at"])
    assert client.read(upload_id)["state"] == entry["state"] == "accepted"


@pytest.mark.slow
def test_a_failed_result_for_the_deleted_image_of_a_blocked_entry_changes_nothing(
    system: System,
) -> None:
    """A redrive after the blocked image was deleted: the function cannot read it and says so; the
    labeled verdict stands (docs/user-service.md "Results, applied once")."""
    client, upload_id, path, verdict = upload_through_every_step(system, HOUSE)
    wait_for(lambda: not system.bucket.blob(path).exists(), VERDICT_SECONDS)
    system.announce(upload_id, path)
    _, failed = system.results.messages(upload_id, count=2)
    body = json.loads(failed.data)
    assert body["status"] == "failed"
    assert body["error"]["code"] in ("IMAGE_UNREADABLE", "IMAGE_NOT_FOUND")
    # Delivered to the User-Service, which keeps the verdict: the blocked entry is final.
    assert wait_for(lambda: len(system.outcomes(upload_id)) == 2, VERDICT_SECONDS)
    assert system.outcomes(upload_id) == ["applied", "final"]
    entry = client.read(upload_id)
    assert (entry["state"], entry["final"], entry["error"]) == ("blocked", True, None)
    assert entry["labels"] == verdict["labels"], "the verdict is kept as it was"
    assert system.entry(upload_id)["result"]["status"] == "labeled"


@pytest.mark.slow
def test_an_announcement_whose_object_is_missing_ends_failed_with_the_reason(
    system: System,
) -> None:
    """The object is not in the bucket when the function asks Vision for it (gone after its check,
    e.g. deleted by an operator): a failed result, which completes the entry as failed with the
    AI-Service's reason, never leaving it pending."""
    client = system.client()
    created = client.create("image/png", len(BICYCLE))
    upload_id, path = created["id"], object_name(created["upload"]["url"])
    # As the service records an announcement (only announced entries take results), of an object
    # that is not there when the function reads it.
    system.entries.document(upload_id).update({"announced_at": datetime.datetime.now(datetime.UTC)})
    system.announce(upload_id, path)
    entry, final = client.wait_final(upload_id, VERDICT_SECONDS)
    assert final, entry
    assert entry["state"] == "failed"
    assert entry["error"]["code"] in ("IMAGE_UNREADABLE", "IMAGE_NOT_FOUND")
    assert entry["message"].startswith("This photo could not be checked.")


# -- a dead letter, redriven -----------------------------------------------------------------------

MAX_DELIVERY_ATTEMPTS = 5  # Pub/Sub's least
DEADLINE_SECONDS = 2


@pytest.mark.slow
def test_a_message_dead_lettered_in_a_vision_outage_is_redriven_and_completes_the_entry(
    firestore_emulator: FirestoreEmulator,
    private_pubsub_emulator: PubSubEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Vision is down: the function fails the announcement on every push until Pub/Sub dead-letters
    it. The upload screen reads "delayed" meanwhile, never hangs. Once Vision is back, `ops.redrive`
    republishes it and the entry is accepted.

    On a Pub/Sub emulator of its own, one failing message at a time (shared/notes/emulators.md)."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    settings = local_settings(
        {
            "maxDeliveryAttempts": str(MAX_DELIVERY_ATTEMPTS),
            "minimumBackoffSeconds": "0",
            "maximumBackoffSeconds": "1",
        },
        project=f"redrive-{uuid.uuid4().hex[:10]}",
    )
    stack = LocalStack(
        settings,
        VISION_STAND_IN,
        pubsub=private_pubsub_emulator,
        firestore=firestore_emulator,
        user_service_environment={"VERDICT_DEADLINE_SECONDS": str(DEADLINE_SECONDS)},
    )
    try:
        system = open_system(stack)
        vision_port = stack.vision.port
        stack.vision.close()  # the outage
        client = system.client()
        upload_id = client.upload(BICYCLE, "image/png")

        delayed = wait_for(lambda: client.read(upload_id)["state"] == "delayed", 20)
        assert delayed
        entry = client.read(upload_id)
        assert entry["final"] is False
        assert "You can leave this page" in entry["message"]

        dead_letters = settings.project, "ai-service-image-labeling-dead-letter"
        arguments = [
            *("--project", dead_letters[0], "--subscription", dead_letters[1]),
            *("--topic", NEW_IMAGE_TOPIC, "--idle-seconds", "2", "--poll-interval", "0.1"),
        ]

        def listed() -> str:
            out = io.StringIO()
            exit_code = redrive.main(
                [*arguments, "--dry-run"], clients=(system.publisher, system.subscriber), out=out
            )
            assert exit_code == redrive.PASS, out.getvalue()
            return out.getvalue() if f"\t{upload_id}\t" in out.getvalue() else ""

        listing = wait_for(listed, 90)
        [row] = [line.split("\t") for line in listing.splitlines() if f"\t{upload_id}\t" in line]
        assert row[3] == str(MAX_DELIVERY_ATTEMPTS), listing
        assert client.read(upload_id)["state"] == "delayed", "dead-lettered: still not final"

        stack.vision = VisionEmulator(
            stack.storage_url,
            module=VISION_MODULES[VISION_STAND_IN],
            name="Vision stand-in",
            port=vision_port,
        ).start()  # the outage is over
        out = io.StringIO()
        exit_code = redrive.main(arguments, clients=(system.publisher, system.subscriber), out=out)
        assert exit_code == redrive.PASS, out.getvalue()
        assert "moved 1 of 1" in out.getvalue()

        entry, final = client.wait_final(upload_id, VERDICT_SECONDS)
        assert (entry["state"], final) == ("accepted", True)
        assert system.entry(upload_id)["state"] == "accepted"
        system.subscriber.close()
    finally:
        stack.stop()
