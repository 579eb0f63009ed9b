"""Cloud Function entry point `label_image`: adapts the CloudEvent to the labeling core, nothing more.

Settings are validated when the instance starts: a missing or invalid variable stops the revision from
serving (and so fails the deploy) with an error that names it. Clients are built on the first event.
"""

from __future__ import annotations

import os

import flask
import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from labeling.config import Settings
from labeling.logs import log_outcome
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
    """Before functions-framework reads the request: anything but a binary CloudEvent or a JSON object
    body (a push body or a structured CloudEvent) would make it fail with a 4xx or 5xx. Pub/Sub only
    ever POSTs: other methods are refused without a log line, so probes do not flood the logs."""
    if flask.request.method != "POST":
        return "", 405
    if "ce-specversion" in flask.request.headers:
        return None
    if isinstance(flask.request.get_json(silent=True), dict):
        return None
    return _drop("the request body is not a JSON object")


def acknowledge_undeliverable(error: HTTPException) -> tuple[str, int]:
    """functions-framework could not read the request as a CloudEvent or push body (HTTP 400)."""
    return _drop(f"not a CloudEvent or Pub/Sub push body ({error.name})")


def acknowledge_unconvertible(error: Exception) -> tuple[str, int] | HTTPException:
    """functions-framework crashed converting a request before `label_image` ran (e.g. a JSON body whose
    "context" is not an object raises TypeError in its background-event conversion): the request's
    fault, dropped like a 400. Errors raised by `label_image` itself (TransientError) are re-raised
    to the framework's crash handler: HTTP 500, redelivered."""
    if isinstance(error, HTTPException):
        return error  # what Flask does with an HTTP error that has no handler of its own
    if flask.g.get("label_image_called"):
        raise error
    return _drop(f"functions-framework could not convert it ({type(error).__name__})")


def _drop(reason: str) -> tuple[str, int]:
    log_outcome(
        "ERROR",
        f"request dropped: {reason}",
        image_id=None,
        status="dropped",
        matched=False,
        error_code="MALFORMED_ENVELOPE",
        source_message_id=None,
        latency_seconds=None,
    )
    return "", 204


functions_framework.errorhandler(400)(acknowledge_undeliverable)
functions_framework.errorhandler(Exception)(acknowledge_unconvertible)
if flask.has_app_context():  # functions-framework imports this module inside its app's context
    flask.current_app.before_request(acknowledge_unreadable_body)
