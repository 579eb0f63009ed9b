"""The cold-start baseline: a bare functions-framework CloudEvent function that does nothing."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def hello(cloud_event: CloudEvent) -> None:
    """Acknowledge every event (HTTP 200) without looking at it."""
