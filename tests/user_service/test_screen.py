"""The upload screen in a real headless browser (Debian's chromium, driven by Playwright), used as a
person would: choose a photo, watch it upload, read the verdict.

The service runs as a real functions-framework process on the emulators; the browser PUTs straight to
storage through the local gateway (CORS, GCS's preconditions). The AI-Service is stood in for by a
thread that reads each announcement, recognises the uploaded sample by its bytes and publishes the
result it would get to ai-service-image-labeled, which a push subscription delivers to the service
(the seven steps with the real function are `make local`'s).
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import storage
from playwright.sync_api import BrowserContext, Page, Route, expect

from ops.emulators import FirestoreEmulator, PubSubEmulator, pubsub_clients
from tests.user_service.browser import browser, placed
from tests.user_service.conftest import BUCKET
from tests.user_service.harness import Topics, result, wait_for
from user_service.local.server import UserServiceServer, local_environment
from user_service.local.storage_gateway import StorageGateway

SAMPLES = Path(__file__).resolve().parents[2] / "ops" / "samples"
# Where the stand-in says the bike is (as OBJECT_LOCALIZATION would): fractions of the image.
BICYCLE_BOX = {"x": 0.25, "y": 0.2, "width": 0.5, "height": 0.6}
BICYCLE_OBJECT = {"name": "Bicycle", "score": 0.9, "mid": "/m/0199g", "box": BICYCLE_BOX}
VERDICT_TIMEOUT_MS = 20_000
__all__ = ["browser"]  # the fixture, from tests/user_service/browser.py


class StandInAiService:
    """Answers each announcement like the AI-Service would for the shipped samples; `hold()` keeps
    the answers back (an upload stays pending) until `release()`."""

    def __init__(self, topics: Topics, bucket: storage.Bucket) -> None:
        self.topics = topics
        self.bucket = bucket
        self.verdicts = {
            hashlib.sha256((SAMPLES / "bicycle.png").read_bytes()).hexdigest(): True,
            hashlib.sha256((SAMPLES / "house.png").read_bytes()).hexdigest(): False,
        }
        self._released = threading.Event()
        self._released.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            for announcement in self.topics.announcements(1, timeout=0.5):
                self._released.wait()
                path = announcement["path"]
                digest = hashlib.sha256(self.bucket.blob(path).download_as_bytes()).hexdigest()
                if digest in self.verdicts:
                    matched = self.verdicts[digest]
                    objects = [BICYCLE_OBJECT] if matched else None
                    answer = result(announcement["id"], path, matched=matched, objects=objects)
                else:
                    answer = result(announcement["id"], path, error=("IMAGE_UNREADABLE", "unknown"))
                self.topics.publish_result(answer)

    def __enter__(self) -> StandInAiService:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def screen(
    firestore_emulator: FirestoreEmulator,
    pubsub_emulator: PubSubEmulator,
    storage_gateway: StorageGateway,
    bucket: storage.Bucket,
) -> Iterator[tuple[UserServiceServer, StandInAiService]]:
    project = f"screen-{uuid.uuid4().hex[:12]}"
    environment = local_environment(
        project, BUCKET, firestore_emulator.host, pubsub_emulator.host, storage_gateway.url
    )
    publisher, subscriber = pubsub_clients(pubsub_emulator.host)
    topics = Topics(project, publisher, subscriber)
    try:
        with UserServiceServer(environment) as service:
            storage_gateway.allow_origin(service.url)  # the bucket's CORS rule names the screen
            topics.create(push_endpoint=service.push_endpoint)
            with StandInAiService(topics, bucket) as stand_in:
                yield service, stand_in
    finally:
        subscriber.close()


@pytest.fixture
def page(
    browser: BrowserContext, screen: tuple[UserServiceServer, StandInAiService]
) -> Iterator[Page]:
    """The screen on a first visit (no owner cookie yet); fails the test if the page raised, broke
    its Content-Security-Policy, or asked for a file the service does not have."""
    service, _ = screen
    browser.clear_cookies()
    opened = browser.new_page()
    failures: list[str] = []
    opened.on("pageerror", lambda error: failures.append(str(error)))
    opened.on(
        "console",
        lambda message: (
            failures.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    opened.on(
        "response",
        lambda response: (
            failures.append(f"{response.status} {response.url}")
            if response.request.method == "GET" and response.status >= 400
            else None
        ),
    )
    opened.goto(service.url)
    yield opened
    opened.close()
    assert failures == [], f"the page raised: {failures}"


def card(page: Page, name: str) -> Any:
    return page.locator("article.upload", has=page.locator(".name", has_text=name))


def choose(page: Page, path: Path) -> None:
    page.set_input_files("#file", str(path))


def test_a_bicycle_is_allowed_with_its_labels(page: Page) -> None:
    choose(page, SAMPLES / "bicycle.png")
    upload = card(page, "bicycle.png")
    expect(upload).to_have_attribute("data-state", "accepted", timeout=VERDICT_TIMEOUT_MS)
    expect(upload.locator(".verdict")).to_have_text("Allowed")
    expect(upload.locator(".message")).to_have_text("Allowed: Bicycle found (97%).")
    expect(upload.locator(".labels li").first).to_have_text("Bicycle 97%")
    expect(upload.locator("progress")).to_be_hidden()


def test_a_passing_outage_of_the_service_s_peers_does_not_refuse_the_upload(page: Page) -> None:
    """Transient faults are retried: the service answers 503 when Firestore or Pub/Sub is briefly
    unavailable ('say done again'); the screen asks again instead of refusing the photo."""
    unavailable = {"/api/uploads": 2, "/done": 2}  # path ending -> 503s still to answer

    def flaky(route: Route) -> None:
        ending = next((end for end in unavailable if route.request.url.endswith(end)), None)
        if route.request.method == "POST" and ending and unavailable[ending] > 0:
            unavailable[ending] -= 1
            route.fulfill(status=503, json={"code": "UNAVAILABLE", "error": "try again"})
        else:
            route.continue_()

    page.route("**/api/uploads**", flaky)
    choose(page, SAMPLES / "bicycle.png")
    upload = card(page, "bicycle.png")
    expect(upload).to_have_attribute("data-state", "accepted", timeout=VERDICT_TIMEOUT_MS)
    assert unavailable == {"/api/uploads": 0, "/done": 0}  # both were refused twice first


@pytest.mark.parametrize("name", ["bike.jpg", "bike"])
def test_a_photo_misnamed_or_without_an_extension_is_sent_as_what_its_bytes_are(
    page: Page, tmp_path: Path, name: str
) -> None:
    """Final issue 18 review: the browser types a file by its name, so a PNG named .jpg was refused as
    'sent as JPEG' (choosing it again changed nothing) and one without an extension as not a photo."""
    photo = tmp_path / name
    photo.write_bytes((SAMPLES / "bicycle.png").read_bytes())
    choose(page, photo)
    upload = card(page, name)
    expect(upload).to_have_attribute("data-state", "accepted", timeout=VERDICT_TIMEOUT_MS)


def test_a_house_is_blocked_and_its_image_deleted(page: Page, bucket: storage.Bucket) -> None:
    choose(page, SAMPLES / "house.png")
    upload = card(page, "house.png")
    expect(upload).to_have_attribute("data-state", "blocked", timeout=VERDICT_TIMEOUT_MS)
    expect(upload.locator(".verdict")).to_have_text("Blocked")
    expect(upload.locator(".labels li").first).to_have_text("House 93%")
    expect(upload.locator(".message")).to_contain_text("deleted")
    upload_id = upload.get_attribute("data-id")
    assert upload_id
    # Deleted by the request that stored the verdict, just after it committed.
    wait_for(lambda: list(bucket.list_blobs(prefix=f"uploads/{upload_id}")) == [])


def test_a_file_that_is_not_an_image_is_refused_with_a_readable_message(
    page: Page, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my bike is blue\n")
    choose(page, notes)
    upload = card(page, "notes.txt")
    expect(upload).to_have_attribute("data-state", "refused", timeout=VERDICT_TIMEOUT_MS)
    expect(upload.locator(".message")).to_contain_text("is not a photo we accept")
    # A text file named like a photo gets as far as storage, and is refused by its first bytes.
    disguised = tmp_path / "holiday.png"
    shutil.copy(notes, disguised)
    choose(page, disguised)
    upload = card(page, "holiday.png")
    expect(upload).to_have_attribute("data-state", "refused", timeout=VERDICT_TIMEOUT_MS)
    expect(upload.locator(".message")).to_have_text(
        "this file is not a photo we accept: JPEG, PNG, GIF, WEBP or BMP only"
    )


def test_a_second_upload_while_the_first_is_pending(
    page: Page, screen: tuple[UserServiceServer, StandInAiService]
) -> None:
    _, stand_in = screen
    stand_in.hold()
    try:
        choose(page, SAMPLES / "bicycle.png")
        first = card(page, "bicycle.png")
        expect(first).to_have_attribute("data-state", "pending", timeout=VERDICT_TIMEOUT_MS)
        expect(first.locator(".verdict")).to_have_text("Checking...")
        choose(page, SAMPLES / "house.png")
        second = card(page, "house.png")
        expect(second).to_have_attribute("data-state", "pending", timeout=VERDICT_TIMEOUT_MS)
        expect(first).to_have_attribute("data-state", "pending")
    finally:
        stand_in.release()
    expect(first).to_have_attribute("data-state", "accepted", timeout=VERDICT_TIMEOUT_MS)
    expect(second).to_have_attribute("data-state", "blocked", timeout=VERDICT_TIMEOUT_MS)
    expect(page.locator("article.upload")).to_have_count(2)


def test_an_object_found_is_framed_where_it_is_on_the_photo(page: Page) -> None:
    choose(page, SAMPLES / "bicycle.png")
    upload = card(page, "bicycle.png")
    expect(upload).to_have_attribute("data-state", "accepted", timeout=VERDICT_TIMEOUT_MS)
    box = upload.locator(".photo .box")
    expect(box).to_have_count(1)
    expect(box).to_have_text("Bicycle")
    expect(box).to_have_attribute("title", "Bicycle 90%")
    # Where the box is drawn, as fractions of the photo as shown: where the result says.
    where = placed(box, upload.locator(".photo img"))
    assert where == pytest.approx(BICYCLE_BOX, abs=0.02), where


def test_a_photo_without_objects_has_no_frame(page: Page) -> None:
    choose(page, SAMPLES / "house.png")
    upload = card(page, "house.png")
    expect(upload).to_have_attribute("data-state", "blocked", timeout=VERDICT_TIMEOUT_MS)
    expect(upload.locator(".photo .box")).to_have_count(0)


def test_the_screen_has_its_icon_and_a_policy_that_allows_only_its_own_files(page: Page) -> None:
    """A favicon (no 404 in the console) and a CSP without inline script: the page works under it
    (the fixture fails the test on any CSP violation)."""
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon
    answer = page.request.get(page.url.rstrip("/") + icon)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
    assert page.locator("script:not([src])").count() == 0


def test_a_reload_shows_earlier_uploads_with_their_verdicts_and_labels(page: Page) -> None:
    """Photos dropped together on a first visit share the owner the screen issued; after a reload
    each is listed with its verdict and label chips."""
    page.set_input_files("#file", [str(SAMPLES / "bicycle.png"), str(SAMPLES / "house.png")])
    for name, state in (("bicycle.png", "accepted"), ("house.png", "blocked")):
        expect(card(page, name)).to_have_attribute("data-state", state, timeout=VERDICT_TIMEOUT_MS)
    page.reload()
    listed = page.locator("article.upload")
    expect(listed).to_have_count(2)
    states = sorted(listed.nth(index).get_attribute("data-state") or "" for index in range(2))
    assert states == ["accepted", "blocked"]
    for index in range(2):
        expect(listed.nth(index).locator(".name")).to_contain_text("Photo sent")
        expect(listed.nth(index).locator(".labels li").first).to_be_visible()
