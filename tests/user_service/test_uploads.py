"""2a, 2b, 2c: an upload creates its entry, gets a signed URL for one object, and is announced only
once the object is really an image. Bad input gets a 4xx with a message, never a 500."""

from __future__ import annotations

import datetime
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.cloud import storage
from PIL import Image

from tests.user_service.conftest import BUCKET, Api, make_api
from tests.user_service.harness import Topics, put_object
from user_uploads.app import OWNER_COOKIE

SAMPLES = Path(__file__).resolve().parents[2] / "ops" / "samples"
BICYCLE = (SAMPLES / "bicycle.png").read_bytes()
JPEG_HEAD = b"\xff\xd8\xff\xe0" + bytes(60)


def test_creating_an_upload_records_a_pending_entry_and_signs_a_put_for_one_object(
    api: Api,
) -> None:
    response = api.create("image/png", len(BICYCLE), path="../../etc/passwd", name="x.exe")
    assert response.status_code == 201, response.json
    body = response.json
    upload_id = body["id"]
    upload = body["upload"]
    target = urlsplit(upload["url"])
    # The service chose the object: nothing the client sent is in the path.
    assert target.path == f"/{BUCKET}/uploads/{upload_id}.png"
    assert upload["method"] == "PUT"
    assert upload["headers"] == {
        "Content-Type": "image/png",
        "x-goog-content-length-range": f"{len(BICYCLE)},{len(BICYCLE)}",
        "x-goog-if-generation-match": "0",
    }
    query = parse_qs(target.query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    signed = query["X-Goog-SignedHeaders"][0].split(";")
    assert {"content-type", "x-goog-content-length-range", "x-goog-if-generation-match"} <= set(
        signed
    ), "type, size and create-only are bound into the signature"
    entry = api.read(upload_id).json
    assert entry["state"] == "uploading"
    assert entry["final"] is False
    assert "owner" not in entry


def test_a_checked_upload_is_announced_once_with_its_id_and_path(api: Api, topics: Topics) -> None:
    created = api.create("image/png", len(BICYCLE)).json
    assert put_object(created["upload"], BICYCLE).status_code == 200
    done = api.done(created["id"])
    assert done.status_code == 202, done.json
    assert done.json["state"] == "pending"
    path = urlsplit(created["upload"]["url"]).path.split("/", 2)[2]
    assert topics.announcements(1) == [{"id": created["id"], "path": path}]
    again = api.done(created["id"])
    assert again.status_code == 200
    assert again.json["state"] == "pending"
    assert topics.announcements(1, timeout=1.5) == [], "said twice, announced once"


def test_done_before_the_object_arrived_is_a_409_and_the_upload_can_still_finish(
    api: Api, topics: Topics
) -> None:
    created = api.create("image/jpeg", len(JPEG_HEAD)).json
    early = api.done(created["id"])
    assert early.status_code == 409
    assert "has not arrived" in early.json["error"]
    assert api.read(created["id"]).json["state"] == "uploading"
    assert put_object(created["upload"], JPEG_HEAD).status_code == 200
    assert api.done(created["id"]).status_code == 202
    assert len(topics.announcements(1)) == 1


def test_an_object_that_is_not_an_image_is_refused_marked_and_deleted(
    api: Api, topics: Topics, bucket: storage.Bucket
) -> None:
    text = b"just some notes, not a photo at all"
    created = api.create("image/png", len(text)).json
    assert put_object(created["upload"], text).status_code == 200
    object_name = urlsplit(created["upload"]["url"]).path.split("/", 2)[2]
    assert bucket.get_blob(object_name) is not None
    refused = api.done(created["id"])
    assert refused.status_code == 415
    assert refused.json["code"] == "NOT_AN_IMAGE"
    assert "not a photo" in refused.json["error"]
    entry = api.read(created["id"]).json
    assert entry["state"] == "failed"
    assert entry["final"] is True
    assert entry["error"]["code"] == "NOT_AN_IMAGE"
    assert entry["image_deleted"] is True
    assert bucket.get_blob(object_name) is None
    assert topics.announcements(1, timeout=1.5) == []
    # Said again: the same answer, and still nothing announced.
    assert api.done(created["id"]).json["state"] == "failed"


def test_the_signed_url_neither_overwrites_nor_takes_another_size(api: Api) -> None:
    """GCS enforces the signed headers (the local gateway does as GCS does)."""
    created = api.create("image/png", len(BICYCLE)).json
    upload = created["upload"]
    assert put_object(upload, BICYCLE + b"more").status_code == 400
    assert put_object(upload, BICYCLE).status_code == 200
    assert put_object(upload, BICYCLE).status_code == 412, "a checked object is never replaced"


def test_an_announcement_pub_sub_did_not_take_is_a_503_and_saying_done_again_announces_it(
    service_environment: dict[str, str], topics: Topics
) -> None:
    """Pub/Sub without the topic (an outage of the announcement): nothing is marked, nothing lost."""
    api = make_api(service_environment)  # the topics are created only after the first try
    created = api.create("image/jpeg", len(JPEG_HEAD)).json
    assert put_object(created["upload"], JPEG_HEAD).status_code == 200
    failed = api.done(created["id"])
    assert failed.status_code == 503
    assert "try again" in failed.json["error"]
    assert api.read(created["id"]).json["state"] == "uploading"
    topics.create()
    assert api.done(created["id"]).status_code == 202
    assert [item["id"] for item in topics.announcements(1)] == [created["id"]]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"content_type": "text/plain", "size": 10}, 415, "not a photo"),
        ({"content_type": "", "size": 10}, 415, "not a photo"),
        ({"content_type": "image/svg+xml", "size": 10}, 415, "JPEG, PNG"),
        ({"content_type": "image/png"}, 400, "size"),
        ({"content_type": "image/png", "size": 0}, 400, "this file is empty"),
        ({"content_type": "image/png", "size": -5}, 400, "size"),
        ({"content_type": "image/png", "size": True}, 400, "size"),
        ({"content_type": "image/png", "size": "12"}, 400, "size"),
        ({"content_type": "image/png", "size": 50_000_000}, 413, "47.7 MiB; the limit is 10 MiB"),
        (
            {"content_type": "image/png", "size": 10 * 2**20 + 1},
            413,
            "1 byte over the limit of 10 MiB",
        ),
        ([1, 2], 400, "not a JSON object"),
    ],
)
def test_bad_upload_requests_get_a_4xx_with_a_message(
    api: Api, body: object, status: int, words: str
) -> None:
    response = api.client.post("/api/uploads", json=body)
    assert response.status_code == status
    assert words in response.json["error"]


def test_bodies_that_are_not_json_or_too_large_are_refused_before_parsing(api: Api) -> None:
    as_form = api.client.post("/api/uploads", data="content_type=image/png")
    assert as_form.status_code == 415
    assert "JSON" in as_form.json["error"]
    broken = api.client.post(
        "/api/uploads", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    huge = api.client.post(
        "/api/uploads",
        data='{"content_type": "image/png", "pad": "' + "x" * 10_000 + '"}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert "too large" in huge.json["error"]


def test_entries_are_only_readable_by_their_owner(
    api: Api, service_environment: dict[str, str]
) -> None:
    created = api.create("image/png", 100).json
    stranger = make_api(service_environment)
    assert stranger.read(created["id"]).status_code == 401, "no owner cookie at all"
    stranger.create("image/png", 100)  # now it has an owner cookie of its own
    other = stranger.read(created["id"])
    assert other.status_code == 404
    assert other.json["error"] == "no such upload"
    assert stranger.done(created["id"]).status_code == 404
    for bad in ("0" * 32, "not-an-id", "../" + created["id"], "A" * 32):
        assert api.read(bad).status_code == 404


def test_unknown_paths_and_methods_answer_json_errors(api: Api) -> None:
    missing = api.client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json["error"]
    wrong = api.client.delete("/api/uploads")
    assert wrong.status_code == 405
    assert "DELETE" in wrong.json["error"]
    limits = api.client.get("/api/limits").json
    assert limits["max_bytes"] == 10 * 1024 * 1024
    assert "image/jpeg" in limits["content_types"]


def _owner_client(api: Api) -> Any:
    """Another connection of the same browser: a test client holding `api`'s owner cookie."""
    owned = api.app.test_client()
    cookie = api.client.get_cookie(OWNER_COOKIE)
    assert cookie is not None
    owned.set_cookie(OWNER_COOKIE, cookie.value)
    return owned


def test_concurrent_done_requests_announce_one_upload_exactly_once(
    api: Api, topics: Topics
) -> None:
    """Issue 18 review: 10 concurrent "done" published 8 announcements. One request claims the
    announcement; the others answer the entry without publishing."""
    created = api.create("image/png", len(BICYCLE)).json
    assert put_object(created["upload"], BICYCLE).status_code == 200
    clients = [_owner_client(api) for _ in range(10)]
    start = threading.Barrier(len(clients))

    def done(client: Any) -> tuple[int, str]:
        start.wait()
        response = client.post(f"/api/uploads/{created['id']}/done")
        return response.status_code, response.json["state"]

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(done, clients))
    assert sorted(status for status, _ in answers) == [200] * 9 + [202], answers
    assert {state for _, state in answers} == {"pending"}, answers
    assert len(topics.announcements(10, timeout=3)) == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        # An integer literal of 3000 digits: float() of it overflows (was a 500).
        ('{"content_type": "image/png", "size": ' + "9" * 3000 + "}", 413, "far over the limit"),
        ('{"content_type": "image/png", "size": 1e400}', 400, "size"),
        ('{"content_type": "image/png", "size": 1' + "0" * 30 + "}", 413, "far over the limit"),
        # Deeper than Python's parser recurses (was a 500: RecursionError is no ValueError).
        ("[" * 2000 + "]" * 2000, 400, "nested too deeply"),
        ('{"content_type": "image/png", "size": 12', 400, "not JSON"),
        (b'{"content_type": "\xff"}', 400, "not UTF-8"),
    ],
)
def test_hostile_json_bodies_get_a_4xx_with_a_message_never_a_500(
    api: Api, body: str | bytes, status: int, words: str
) -> None:
    response = api.client.post(
        "/api/uploads", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.json
    assert words in response.json["error"]


def test_a_chunked_body_without_a_length_is_read_up_to_the_bound(api: Api) -> None:
    """Transfer-Encoding: chunked, no Content-Length: a small body is read whole and a large one is
    a 413, not a silently cut body that reads as "not a JSON object"."""
    chunked = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    terminated = {"wsgi.input_terminated": True}  # as gunicorn says of a chunked body

    def post(data: bytes) -> Any:
        return api.client.post(
            "/api/uploads",
            input_stream=io.BytesIO(data),
            headers=chunked,
            environ_overrides=terminated,
        )

    small = post(b'{"content_type": "image/png", "size": 100}')
    assert small.status_code == 201, small.json
    large = post(b'{"content_type": "image/png", "size": 100, "pad": "' + b"x" * 100_000 + b'"}')
    assert large.status_code == 413
    assert "too large" in large.json["error"]


def test_an_upload_never_said_done_expires_and_done_is_then_refused(
    service_environment: dict[str, str], topics: Topics, bucket: storage.Bucket
) -> None:
    """Created and PUT but never "done": past its URL's expiry plus the verdict deadline it reads
    expired (final), and a late "done" is refused (410), the entry failed, the object deleted."""
    topics.create()
    # The URL's X-Goog-Date has whole seconds: a 3 s lifetime leaves the PUT at least 2 s.
    api = make_api(
        {**service_environment, "UPLOAD_URL_SECONDS": "3", "VERDICT_DEADLINE_SECONDS": "1"}
    )
    created = api.create("image/png", len(BICYCLE)).json
    assert put_object(created["upload"], BICYCLE).status_code == 200
    assert api.read(created["id"]).json["state"] == "uploading"
    expires = datetime.datetime.fromisoformat(created["upload"]["expires_at"])
    deadline = expires + datetime.timedelta(seconds=1.3)  # the verdict deadline, and a margin
    time.sleep(max(0.0, (deadline - datetime.datetime.now(datetime.UTC)).total_seconds()))
    expired = api.read(created["id"]).json
    assert (expired["state"], expired["final"]) == ("expired", True)
    assert "not finished in time" in expired["message"]
    late = api.done(created["id"])
    assert late.status_code == 410
    assert late.json["code"] == "EXPIRED"
    entry = api.read(created["id"]).json
    assert (entry["state"], entry["error"]["code"], entry["image_deleted"]) == (
        "failed",
        "EXPIRED",
        True,
    )
    assert bucket.get_blob(f"uploads/{created['id']}.png") is None
    assert topics.announcements(1, timeout=1.5) == []


def test_the_screen_issues_the_owner_cookie_and_the_owner_lists_their_uploads(
    api: Api, service_environment: dict[str, str]
) -> None:
    """Several photos dropped at once on a first visit share the owner the screen gave; a reload
    lists them, newest first."""
    screen = api.client.get("/")
    assert screen.status_code == 200
    cookie = api.client.get_cookie(OWNER_COOKIE)
    assert cookie is not None
    assert cookie.http_only
    clients = [_owner_client(api) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        created = list(
            pool.map(
                lambda client: client.post(
                    "/api/uploads", json={"content_type": "image/png", "size": 100}
                ),
                clients,
            )
        )
    assert all(response.status_code == 201 for response in created)
    assert all("Set-Cookie" not in response.headers for response in created), "one owner"
    newest = api.create("image/png", 100).json["id"]
    listed = api.client.get("/api/uploads").json["uploads"]
    assert listed[0]["id"] == newest
    assert {entry["id"] for entry in listed} == {newest} | {r.json["id"] for r in created}
    assert all(entry["state"] == "uploading" and "owner" not in entry for entry in listed)
    stranger = make_api(service_environment)
    assert stranger.client.get("/api/uploads").json == {"uploads": []}
    stranger.client.get("/")
    assert stranger.client.get("/api/uploads").json == {"uploads": []}


def test_the_declared_type_must_be_the_type_the_first_bytes_show(api: Api, topics: Topics) -> None:
    """A PNG sent as a JPEG is refused (TYPE_MISMATCH); two letters "BM" do not make a BMP; a real
    BMP is announced."""
    created = api.create("image/jpeg", len(BICYCLE)).json
    assert put_object(created["upload"], BICYCLE).status_code == 200
    mismatch = api.done(created["id"])
    assert mismatch.status_code == 415
    assert mismatch.json["code"] == "TYPE_MISMATCH"
    assert mismatch.json["error"] == (
        "this file is a PNG image but was sent as JPEG: choose the photo again"
    )
    not_bmp = b"BM is how this note starts, and it is not a bitmap at all"
    created = api.create("image/bmp", len(not_bmp)).json
    assert put_object(created["upload"], not_bmp).status_code == 200
    assert api.done(created["id"]).json["code"] == "NOT_AN_IMAGE"
    bitmap = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(bitmap, format="BMP")
    created = api.create("image/bmp", len(bitmap.getvalue())).json
    assert put_object(created["upload"], bitmap.getvalue()).status_code == 200
    assert api.done(created["id"]).status_code == 202
    assert [item["id"] for item in topics.announcements(1)] == [created["id"]]


@pytest.mark.parametrize("path", ["/", "/assets/upload.js", "/api/limits", "/api/nothing"])
def test_every_response_carries_a_content_security_policy_and_nosniff(api: Api, path: str) -> None:
    response = api.client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_put_that_breaks_the_signed_headers_is_refused_as_gcs_refuses_it(api: Api) -> None:
    """The local gateway plays GCS's part: a V4 signed URL binds Content-Type and the size range
    into the signature, so another type, or the PUT without the range header at twice the size,
    is SignatureDoesNotMatch (403)."""
    created = api.create("image/png", len(BICYCLE)).json
    upload = created["upload"]
    other_type = put_object(upload, BICYCLE, **{"Content-Type": "application/pdf"})
    assert other_type.status_code == 403
    assert "SignatureDoesNotMatch" in other_type.text
    unsigned = {"Content-Type": "image/png"}
    doubled = requests.put(upload["url"], data=BICYCLE * 2, headers=unsigned, timeout=30)
    assert doubled.status_code == 403
    assert "SignatureDoesNotMatch" in doubled.text
    assert put_object(upload, BICYCLE).status_code == 200, "exactly as signed: taken"
