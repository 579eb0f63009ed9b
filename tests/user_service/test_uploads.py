"""2a, 2b, 2c: an upload creates its entry, gets a signed URL for one object, and is announced only
once the object is really an image. Bad input gets a 4xx with a message, never a 500."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from google.cloud import storage

from tests.user_service.conftest import BUCKET, Api, make_api
from tests.user_service.harness import Topics, put_object

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
        ({"content_type": "image/png", "size": 0}, 400, "size"),
        ({"content_type": "image/png", "size": -5}, 400, "size"),
        ({"content_type": "image/png", "size": True}, 400, "size"),
        ({"content_type": "image/png", "size": "12"}, 400, "size"),
        ({"content_type": "image/png", "size": 50_000_000}, 413, "limit"),
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
