"""Cloud Function entry point `label_image`: adapts the CloudEvent to the labeling core, nothing more.

Settings are validated when the instance starts: a missing or invalid variable stops the revision from
serving (and so fails the deploy) with an error that names it. Clients are built on the first event.
"""

from __future__ import annotations

import os

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import HTTPException

from labeling.config import Settings
from labeling.logs import log_event
from labeling.runtime import build_service

service = build_service(Settings.from_env(os.environ))


@functions_framework.cloud_event
def label_image(cloud_event: CloudEvent) -> None:
    """Return to acknowledge the Pub/Sub message; an exception (HTTP 500) has it redelivered."""
    service.handle(cloud_event.get("type"), cloud_event.get("id"), cloud_event.data)


def acknowledge_undeliverable(error: HTTPException) -> tuple[str, int]:
    """A request functions-framework cannot read as a CloudEvent or Pub/Sub push body (HTTP 400).

    Redelivering it cannot help, so it is logged and acknowledged instead of retried until dead-lettered.
    """
    log_event(
        "ERROR",
        f"request dropped, not a CloudEvent or Pub/Sub push body: {error.name}",
        status="dropped",
        error_code="MALFORMED_ENVELOPE",
    )
    return "", 204


functions_framework.errorhandler(400)(acknowledge_undeliverable)
