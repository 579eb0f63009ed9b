"""Cloud Function entry point `label_image`: adapts the CloudEvent to the labeling core, nothing more.

Settings are validated when the instance starts: a missing or invalid variable stops the revision from
serving (and so fails the deploy) with an error that names it. Clients are built on the first event.
"""

from __future__ import annotations

import os
from typing import Any

import flask
import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from labeling.config import Settings
from labeling.logs import log_outcome
from labeling.message import MAX_REQUEST_BYTES, source_message_id
from labeling.runtime import build_service

service = build_service(Settings.from_env(os.environ))


@functions_framework.cloud_event
def label_image(cloud_event: CloudEvent) -> None:
    """Return to acknowledge the Pub/Sub message; an exception (HTTP 500) has it redelivered."""
    flask.g.label_image_called = True  # see acknowledge_unconvertible
    service.handle(cloud_event.get("type"), cloud_event.get("id"), cloud_event.data)


# Requests that are not a Pub/Sub delivery at all: redelivering them cannot help, so they are logged and
# acknowledged (204) instead of being retried until dead-lettered.


def acknowledge_unreadable_body() -> tuple[str, int] | None:
    """Before functions-framework reads the request: a body larger than MAX_REQUEST_BYTES, or anything
    but a binary CloudEvent or a JSON object body (a push body or a structured CloudEvent), which would
    make it fail with a 4xx or 5xx. Pub/Sub only ever POSTs: other methods are refused without a log
    line, so probes do not flood the logs."""
    if flask.request.method != "POST":
        return "", 405
    try:
        # Read once, here, and cached for the framework. werkzeug refuses a Content-Length above
        # MAX_CONTENT_LENGTH unread, and cuts a chunked body there: one byte past our limit, so a
        # body that was cut shows it.
        body = flask.request.get_data()
    except RequestEntityTooLarge:
        return _refuse_too_large()
    if len(body) > MAX_REQUEST_BYTES:
        return _refuse_too_large()
    if "ce-specversion" in flask.request.headers:
        return None
    try:
        # Not silent: werkzeug caches a silent read apart, and functions-framework's get_json()
        # would parse the body a second time.
        envelope = flask.request.get_json()
    except (HTTPException, RecursionError):
        envelope = None
    if isinstance(envelope, dict):
        return None
    return _drop("the request body is not a JSON object")


def _refuse_too_large() -> tuple[str, int]:
    """A message this large can never succeed: acknowledged, so Pub/Sub does not redeliver it (and
    cost every instance that memory again). The body is never parsed, let alone logged."""
    size = flask.request.content_length  # None for a chunked body
    return _drop(
        f"its body is larger than {MAX_REQUEST_BYTES} bytes "
        + (f"({size} bytes)" if size is not None else "(a chunked body, read no further)"),
        error_code="MESSAGE_TOO_LARGE",
        message_id=source_message_id(flask.request.headers.get("ce-id"), None),
        request_bytes=size,
    )


def acknowledge_undeliverable(error: HTTPException) -> tuple[str, int] | HTTPException:
    """functions-framework could not read the request as a CloudEvent or push body: a 400, or a 415
    when it asked for JSON without a JSON content type (a CloudEvent header on an empty body)."""
    if error.code is None or error.code >= 500:
        return error  # what Flask does with an HTTP error that has no handler of its own
    return _drop(f"not a CloudEvent or Pub/Sub push body ({error.name})")


def acknowledge_unconvertible(error: Exception) -> tuple[str, int]:
    """functions-framework crashed converting a request before `label_image` ran (e.g. a JSON body whose
    "context" is not an object raises TypeError in its background-event conversion): the request's
    fault, dropped like a 400. Errors raised by `label_image` itself (TransientError) are re-raised
    to the framework's crash handler: HTTP 500, redelivered."""
    if flask.g.get("label_image_called"):
        raise error
    return _drop(f"functions-framework could not convert it ({type(error).__name__})")


def _drop(
    reason: str,
    error_code: str = "MALFORMED_ENVELOPE",
    message_id: str | None = None,
    **details: Any,  # a kind of drop's own fields (log_outcome's `details`)
) -> tuple[str, int]:
    """A request that can never succeed, acknowledged (204) with its one ERROR line."""
    log_outcome(
        "ERROR",
        f"request dropped: {reason}",
        image_id=None,
        status="dropped",
        matched=False,
        error_code=error_code,
        source_message_id=message_id,
        latency_seconds=None,
        **details,
    )
    return "", 204


functions_framework.errorhandler(HTTPException)(acknowledge_undeliverable)
functions_framework.errorhandler(Exception)(acknowledge_unconvertible)
if flask.has_app_context():  # functions-framework imports this module inside its app's context
    # One byte past the limit, so a cut body shows it was longer (acknowledge_unreadable_body).
    # https://flask.palletsprojects.com/en/stable/config/#MAX_CONTENT_LENGTH
    flask.current_app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES + 1
    flask.current_app.before_request(acknowledge_unreadable_body)
