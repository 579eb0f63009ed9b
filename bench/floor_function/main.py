"""The floor behind the server: functions-framework delivers the event, then only the function's two RPCs
run (bench/floor.py `FloorEvent`): no parsing, no verdict, no logging, one pre-encoded result.

The result carries the event's id (the Pub/Sub message id) in a `source_message_id` attribute, so a
subscriber can match it to what it published. BENCH_FLOOR_URI names the image to ask Vision about.
"""

from __future__ import annotations

import os

import functions_framework
from cloudevents.http import CloudEvent

from bench.floor import FloorEvent
from labeling.clients import Lazy

_event = Lazy(lambda: FloorEvent(os.environ, os.environ["BENCH_FLOOR_URI"]))


@functions_framework.cloud_event
def floor(cloud_event: CloudEvent) -> None:
    _event.get()(str(cloud_event["id"]))
