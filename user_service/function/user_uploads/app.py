"""The HTTP API and the upload screen, as a Flask app (docs/user-service.md has the API).

    GET  /                          the upload screen (static/); issues the owner cookie
    GET  /api/limits                what the screen may upload
    GET  /api/uploads               the owner's newest entries, newest first
    POST /api/uploads               2a/2b: create the entry, return a signed PUT URL for its object
    POST /api/uploads/<id>/done     2c: check the object, then announce it on user-service-new-image
    GET  /api/uploads/<id>          7b: the entry's state, labels and verdict
    POST /pubsub/results            7a: Pub/Sub push of ai-service-image-labeled (OIDC only)

Every error is JSON `{"error": "..."}` with a 4xx for the caller's fault, 503 for a peer's outage
(try again; Pub/Sub redelivers) and never a bare 500 for bad input.
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import flask
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from requests import exceptions as requests_exceptions
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from user_uploads import entries as states
from user_uploads.announcer import AnnounceFailed
from user_uploads.config import CONTENT_TYPES, Settings
from user_uploads.entries import Applied, Contended, Entries, needs_deletion, valid_id
from user_uploads.images import SNIFF_BYTES, detect
from user_uploads.logs import log_event
from user_uploads.push_auth import CertificatesUnavailable, PushRefused
from user_uploads.results import BadDelivery, json_value, parse_push
from user_uploads.services import Services
from user_uploads.storage import ImagesBucket

STATIC = Path(__file__).resolve().parent / "static"
OWNER_COOKIE = "upload_owner"
OWNER_COOKIE_DAYS = 365
MAX_API_BODY_BYTES = 4 * 1024
# A result holds at most 100 labels and 100 objects with boxes (the contract): ~46 KB of JSON,
# base64 in a push.
MAX_PUSH_BODY_BYTES = 256 * 1024
OBJECT_PREFIX = "uploads/"
# How many entries GET /api/uploads returns (the screen after a reload).
MAX_LISTED = 20
# Where signed URLs point when no storage emulator is set (google-cloud-storage's default endpoint).
STORAGE_ORIGIN = "https://storage.googleapis.com"
UPLOADING = "uploading"  # read-side only: created, not announced
EXPIRED = "expired"  # read-side only: created, never announced, past its upload deadline
# What each state tells the person who uploaded (the screen shows it as is).
MESSAGES = {
    UPLOADING: "Waiting for the photo to arrive.",
    EXPIRED: "This upload was not finished in time: choose the photo again.",
    states.PENDING: "Checking the photo...",
    states.DELAYED: (
        "Still checking: this is taking longer than usual. You can leave this page; the verdict "
        "is kept and shown here when it comes."
    ),
    states.ACCEPTED: "Allowed.",
    states.BLOCKED: "Blocked: this photo does not show what the app asks for. It has been deleted.",
    states.REVIEW: "A person will look at this photo before it is allowed.",
    states.FAILED: "This photo could not be checked.",
}
# Outages of a peer (Firestore, Storage, Pub/Sub, IAM): 503, the caller retries.
TRANSIENT = (
    api_exceptions.GoogleAPICallError,
    api_exceptions.RetryError,
    auth_exceptions.TransportError,
    auth_exceptions.RefreshError,
    requests_exceptions.ConnectionError,
    requests_exceptions.Timeout,
    AnnounceFailed,
    CertificatesUnavailable,
    Contended,
)
OUTCOME_SEVERITY = {
    states.FOREIGN_PATH: "ERROR",
    states.UNKNOWN: "WARNING",
    states.UNANNOUNCED: "WARNING",
}


class ApiError(Exception):
    """A request the service refuses: `status` (4xx) and a message the screen can show as is."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def create_app(settings: Settings, services: Services) -> flask.Flask:
    # Not /static: functions-framework's own Flask app claims /static/<path> before ours is reached.
    app = flask.Flask(__name__, static_folder=str(STATIC), static_url_path="/assets")
    app.config["MAX_CONTENT_LENGTH"] = MAX_API_BODY_BYTES
    handlers = Handlers(settings, services)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    app.after_request(_security_headers(settings))
    app.add_url_rule("/", view_func=_screen, methods=["GET"])
    app.add_url_rule("/api/limits", view_func=handlers.limits, methods=["GET"])
    app.add_url_rule("/api/uploads", view_func=handlers.list_uploads, methods=["GET"])
    app.add_url_rule("/api/uploads", view_func=handlers.create_upload, methods=["POST"])
    app.add_url_rule(
        "/api/uploads/<upload_id>/done", view_func=handlers.upload_done, methods=["POST"]
    )
    app.add_url_rule("/api/uploads/<upload_id>", view_func=handlers.read_upload, methods=["GET"])
    app.add_url_rule("/pubsub/results", view_func=handlers.receive_result, methods=["POST"])
    return app


def _api_error(error: ApiError) -> tuple[flask.Response, int]:
    body = {"error": error.message, **({"code": error.code} if error.code else {})}
    return flask.jsonify(body), error.status


def _http_error(error: HTTPException) -> tuple[flask.Response, int]:
    messages = {
        404: "no such page or API endpoint",
        405: f"method {flask.request.method} is not allowed here",
        413: "the request body is too large",
    }
    status = error.code or 400
    return flask.jsonify({"error": messages.get(status, error.description)}), status


def _unexpected(error: Exception) -> tuple[flask.Response, int]:
    if isinstance(error, TRANSIENT):
        log_event("WARNING", "a peer is unavailable", error=f"{type(error).__name__}: {error}")
        return flask.jsonify({"error": "a service we depend on is unavailable: try again"}), 503
    log_event("ERROR", "unexpected error", error=f"{type(error).__name__}: {error}")
    return flask.jsonify({"error": "internal error"}), 500


def _security_headers(settings: Settings) -> Callable[[flask.Response], flask.Response]:
    """Every response: a Content-Security-Policy that allows only the screen's own files (no inline
    script or style), the photo previews (blob:) and the PUT to storage; no MIME sniffing
    (MDN "Content-Security-Policy", "X-Content-Type-Options")."""
    storage_origin = settings.storage_emulator_host or STORAGE_ORIGIN
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob:",
            f"connect-src 'self' {storage_origin}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )

    def add(response: flask.Response) -> flask.Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return add


def _screen() -> flask.Response:
    """The screen; it issues the owner cookie, so photos dropped together on a first visit (their
    requests run at once) share one owner, and a reload lists them (GET /api/uploads)."""
    owner, issued = _owner(create=True)
    response = flask.send_from_directory(STATIC, "index.html", max_age=0)
    if issued:
        _set_owner_cookie(response, owner)
    return response


class Handlers:
    """The endpoints' logic; Flask only routes to it."""

    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.services = services

    def entries(self) -> Entries:
        return self.services.entries.get()

    def bucket(self) -> ImagesBucket:
        return self.services.bucket.get()

    def limits(self) -> flask.Response:
        return flask.jsonify(
            {"max_bytes": self.settings.max_upload_bytes, "content_types": sorted(CONTENT_TYPES)}
        )

    def list_uploads(self) -> flask.Response:
        """The owner's newest MAX_LISTED entries, newest first (none without an owner cookie)."""
        if not flask.request.cookies.get(OWNER_COOKIE):
            return flask.jsonify({"uploads": []})
        owner, _ = _owner(create=False)
        listed = self.entries().owned_by(owner, MAX_LISTED)
        views = [_view(upload_id, entry, self.settings) for upload_id, entry in listed]
        return flask.jsonify({"uploads": views})

    def create_upload(self) -> tuple[flask.Response, int]:
        """2a and 2b: the entry, and a signed URL for the one object the service names."""
        settings = self.settings
        body = _json_body()
        content_type = body.get("content_type")
        size = body.get("size")
        if not isinstance(content_type, str) or content_type not in CONTENT_TYPES:
            raise ApiError(415, _not_a_photo(content_type), "NOT_AN_IMAGE")
        if size == 0:
            raise ApiError(400, "this file is empty: choose a photo", "BAD_SIZE")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ApiError(400, "size must be the photo's size in bytes, at least 1", "BAD_SIZE")
        if size > settings.max_upload_bytes:
            raise ApiError(413, _too_large(size, settings.max_upload_bytes), "TOO_LARGE")
        owner, issued = _owner(create=True)
        upload_id = uuid.uuid4().hex
        # The service names the object; nothing the client sent becomes part of a path.
        object_name = f"{OBJECT_PREFIX}{upload_id}.{CONTENT_TYPES[content_type]}"
        lifetime = datetime.timedelta(seconds=settings.upload_url_seconds)
        signed = self.bucket().signed_upload(object_name, content_type, size, lifetime)
        created = states.now()
        fields = {
            "owner": owner,
            "object_name": object_name,
            "content_type": content_type,
            "declared_size": size,
            "state": states.PENDING,
            "created_at": created,
            "upload_expires_at": signed.expires_at,
            "announced_at": None,
            "completed_at": None,
            "updated_at": created,
        }
        self.entries().create(upload_id, fields)
        log_event("INFO", "upload created", id=upload_id, path=object_name, size=size)
        response = flask.jsonify(
            {
                "id": upload_id,
                "upload": {
                    "url": signed.url,
                    "method": signed.method,
                    "headers": dict(signed.headers),
                    "expires_at": _time(signed.expires_at),
                },
                "entry": _view(upload_id, fields, settings),
            }
        )
        if issued:
            _set_owner_cookie(response, owner)
        return response, 201

    def upload_done(self, upload_id: str) -> tuple[flask.Response, int]:
        """2c: check the object (exists, size, type by its first bytes), then announce it."""
        entry = self.owned(upload_id)
        self.finish_deletion(upload_id, entry)
        if entry["state"] != states.PENDING or entry.get("announced_at") is not None:
            return flask.jsonify(_view(upload_id, entry, self.settings)), 200  # same answer again
        if _shown_state(entry, self.settings) == EXPIRED:
            self.refuse(upload_id, "EXPIRED", MESSAGES[EXPIRED], 410)
        object_name = entry["object_name"]
        stored = self.bucket().stat(object_name)
        if stored is None:
            raise ApiError(
                409,
                "the photo has not arrived in storage: upload it with the URL you were given, "
                "then say it is done",
                "NOT_UPLOADED",
            )
        limit = self.settings.max_upload_bytes
        if stored.size > limit:
            self.refuse(upload_id, "TOO_LARGE", _too_large(stored.size, limit), 413)
        head = self.bucket().head(object_name, SNIFF_BYTES) if stored.size else b""
        detected = detect(head, stored.size)
        if detected is None:
            self.refuse(upload_id, "NOT_AN_IMAGE", _not_a_photo(None), 415)
        declared = entry["content_type"]
        if detected != declared:
            message = (
                f"this file is a {_kind(detected)} image but was sent as {_kind(declared)}: "
                "choose the photo again"
            )
            self.refuse(upload_id, "TYPE_MISMATCH", message, 415)
        assert detected is not None
        entries = self.entries()
        lease = datetime.timedelta(seconds=self.settings.announce_lease_seconds)
        if not entries.claim_announcement(upload_id, lease):
            # Another request is announcing it (or has): one upload, one announcement.
            current = entries.get(upload_id) or entry
            return flask.jsonify(_view(upload_id, current, self.settings)), 200
        try:
            message_id = self.services.announcer.get().announce(upload_id, object_name)
        except AnnounceFailed:
            entries.release_announcement(upload_id)  # it demonstrably failed: "done" may retry
            raise
        entries.mark_announced(upload_id, message_id, stored.size, detected)
        log_event("INFO", "upload announced", id=upload_id, path=object_name, message_id=message_id)
        announced = self.entries().get(upload_id) or entry
        return flask.jsonify(_view(upload_id, announced, self.settings)), 202

    def read_upload(self, upload_id: str) -> flask.Response:
        """7b: the entry as its owner may see it."""
        return flask.jsonify(_view(upload_id, self.owned(upload_id), self.settings))

    def receive_result(self) -> tuple[flask.Response, int]:
        """7a: a result pushed by Pub/Sub, applied once whatever the order and repetitions."""
        request = flask.request
        try:
            delivered_by = self.services.verifier.get().verify(
                request.headers.get("Authorization"), request.args.get("token")
            )
        except PushRefused as refused:
            log_event("WARNING", "result delivery refused", reason=refused.reason)
            return flask.jsonify({"error": refused.reason}), refused.status
        request.max_content_length = MAX_PUSH_BODY_BYTES
        try:
            result = parse_push(json_value(_bounded_body(MAX_PUSH_BODY_BYTES), "the body"))
        except BadDelivery as bad:
            # Refused, not acknowledged: Pub/Sub redelivers it, then keeps it in this service's
            # dead-letter topic, where an operator can read what the AI-Service sent.
            log_event("ERROR", "malformed result refused", reason=str(bad), by=delivered_by)
            return flask.jsonify({"error": f"malformed result: {bad}"}), 400
        upload_id = result.upload_id
        if isinstance(upload_id, str) and valid_id(upload_id):
            applied = self.entries().apply(upload_id, result)
            if applied.entry is not None:
                self.finish_deletion(upload_id, applied.entry)
        else:
            applied = Applied(states.UNKNOWN, None)  # not an id this service ever gives
        state = None if applied.entry is None else applied.entry["state"]
        log_event(
            OUTCOME_SEVERITY.get(applied.outcome, "INFO"),
            f"result {applied.outcome}",
            id=result.upload_id,
            path=result.path,
            status=result.status,
            state=state,
            processed_at=result.processed_at,
            source_message_id=result.source_message_id,
            outcome=applied.outcome,
        )
        # Acknowledged whatever the outcome: an unknown id or a stale result will not change.
        return flask.jsonify({"outcome": applied.outcome, "state": state}), 200

    def owned(self, upload_id: str) -> dict[str, Any]:
        owner, _ = _owner(create=False)
        entry = self.entries().get(upload_id) if valid_id(upload_id) else None
        if entry is None or not secrets.compare_digest(str(entry.get("owner")), owner):
            raise ApiError(404, "no such upload", "NOT_FOUND")  # another owner's: not even that
        return entry

    def refuse(self, upload_id: str, code: str, message: str, status: int) -> None:
        refused = self.entries().refuse(upload_id, code, message)
        if refused is not None:
            self.finish_deletion(upload_id, refused)
        log_event("INFO", "upload refused", id=upload_id, error_code=code)
        raise ApiError(status, message, code)

    def finish_deletion(self, upload_id: str, entry: Mapping[str, Any]) -> None:
        """Deletes the image of a blocked or refused entry, once (retried by the next request)."""
        if needs_deletion(entry):
            self.bucket().delete(entry["object_name"])
            self.entries().mark_image_deleted(upload_id)
            log_event("INFO", "image deleted", id=upload_id, path=entry["object_name"])


def _bounded_body(limit: int) -> bytes:
    """The request body, at most `limit` bytes: 413 beyond it, with or without a Content-Length
    (a chunked body is read up to the bound: werkzeug's get_data would cut it there silently)."""
    stream = flask.request.stream
    data = stream.read(limit + 1)
    # werkzeug's bounded stream returns `limit` bytes, and raises 413 only on the read after them.
    if len(data) > limit or stream.read(1):
        raise RequestEntityTooLarge()
    return data


def _json_body() -> dict[str, Any]:
    request = flask.request
    if not request.is_json:
        raise ApiError(415, "send a JSON body (Content-Type: application/json)", "NOT_JSON")
    try:
        body = json_value(_bounded_body(MAX_API_BODY_BYTES), "the body")
    except BadDelivery as bad:
        raise ApiError(400, str(bad), "BAD_JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body is not a JSON object", "BAD_JSON")
    return body


def _owner(create: bool) -> tuple[str, bool]:
    """This browser's opaque owner id (from the cookie this service issued), and whether it is new.

    The reference authenticates nobody: whoever holds the cookie is that owner (docs/user-service.md).
    """
    owner = flask.request.cookies.get(OWNER_COOKIE, "")
    if len(owner) == 32 and all(char in "0123456789abcdef" for char in owner):
        return owner, False
    if not create:
        raise ApiError(401, "no owner cookie: open the upload screen first", "NO_OWNER")
    return secrets.token_hex(16), True


def _set_owner_cookie(response: flask.Response, owner: str) -> None:
    request = flask.request
    secure = request.is_secure or request.headers.get("X-Forwarded-Proto") == "https"
    response.set_cookie(
        OWNER_COOKIE,
        owner,
        max_age=OWNER_COOKIE_DAYS * 86400,
        httponly=True,
        secure=secure,
        samesite="Strict",
    )


def _view(upload_id: str, entry: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """What the owner may see of an entry: never its owner id, nor internal bookkeeping."""
    state = entry["state"]
    announced = entry.get("announced_at")
    shown = _shown_state(entry, settings)
    error = entry.get("error")
    message = MESSAGES[shown]
    match = entry.get("match") or {}
    if state == states.FAILED and error:
        message = f"{message} {error.get('message', '')}".strip()
    elif state == states.ACCEPTED and match.get("label") and match.get("score") is not None:
        message = f"Allowed: {match['label']} found ({match['score']:.0%})."
    return {
        "id": upload_id,
        "state": shown,
        "final": state != states.PENDING or shown == EXPIRED,
        "message": message,
        "labels": list(entry.get("labels") or []),
        "objects": list(entry.get("objects") or []),
        "match": {key: match.get(key) for key in ("label", "score", "threshold")}
        if match
        else None,
        "decision": entry.get("decision"),
        "error": error,
        "created_at": _time(entry.get("created_at")),
        "announced_at": _time(announced),
        "completed_at": _time(entry.get("completed_at")),
        "image_deleted": entry.get("image_deleted_at") is not None,
    }


def _shown_state(entry: Mapping[str, Any], settings: Settings) -> str:
    """The state the owner sees: the stored one, or for a pending entry uploading (not announced),
    expired (not announced by its upload URL's expiry plus the verdict deadline: the photo can no
    longer arrive, and "done" is refused), pending (announced, or being announced), or delayed (its
    verdict is overdue)."""
    state: str = entry["state"]
    if state != states.PENDING:
        return state
    deadline = datetime.timedelta(seconds=settings.verdict_deadline_seconds)
    announced = entry.get("announced_at")
    if announced is not None:
        return states.DELAYED if states.now() - announced > deadline else states.PENDING
    claimed = entry.get("announcing_since")
    lease = datetime.timedelta(seconds=settings.announce_lease_seconds)
    if claimed is not None and states.now() - claimed < lease:
        return states.PENDING
    expires = entry.get("upload_expires_at")
    if expires is not None and states.now() > expires + deadline:
        return EXPIRED
    return UPLOADING


def _time(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _kind(content_type: str | None) -> str:
    """The short name of an image type: image/jpeg is JPEG."""
    return (content_type or "unknown").removeprefix("image/").upper()


def _not_a_photo(content_type: object) -> str:
    kinds = "JPEG, PNG, GIF, WEBP or BMP"
    if isinstance(content_type, str) and content_type:
        return f"this file ({content_type[:60]}) is not a photo we accept: {kinds} only"
    return f"this file is not a photo we accept: {kinds} only"


def _too_large(size: int, limit: int) -> str:
    """Sizes in MiB, as the limit is set; an absurd one (a 3000-digit number) is not echoed: float()
    of it overflows and str() of one over 4300 digits raises. Just over the limit, in bytes (10.0 MiB
    against a 10 MiB limit would read as no difference)."""
    if size > 1000 * limit:
        return f"the photo is far over the limit of {limit / 2**20:g} MiB"
    if size < limit + 2**20 // 10:
        over = size - limit
        return (
            f"the photo is {over:,} byte{'s' * (over != 1)} over the limit of {limit / 2**20:g} MiB"
        )
    return f"the photo is {size / 2**20:.1f} MiB; the limit is {limit / 2**20:g} MiB"
