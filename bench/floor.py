"""The floor function: what every figure of `make bench` is judged against.

It runs behind the same functions-framework server as the function (`functions-framework --source
bench/floor.py --target floor`, the same environment and THREADS), imports the same client libraries
and builds the same clients through the function's own factories (labeling.clients), and per event
makes exactly the function's two RPCs: BatchAnnotateImages for one gs:// URI (same request, retry and
timeout as labeling.vision), then Publish of one result message of the real size through
labeling.publisher's ResultPublisher, waiting for its id. Nothing else: no parsing of the message,
no verdict, no log line; the result is encoded once, from the first event's Vision answer.

The result carries the event's id (the Pub/Sub message id) in a `source_message_id` attribute, so a
subscriber can match it to what it published. BENCH_FLOOR_URI names the image to ask Vision about.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import functions_framework
from cloudevents.http import CloudEvent

from labeling import result as results
from labeling.clients import Lazy, build_publisher, build_vision_client
from labeling.config import Settings
from labeling.publisher import ResultPublisher
from labeling.verdict import decide
from labeling.vision import build_request, read_response, vision_retry

SOURCE_ATTRIBUTE = "source_message_id"


class FloorEvent:
    """One event's two RPCs, with the clients built as the function builds its own."""

    def __init__(self, environment: Mapping[str, str], uri: str) -> None:
        settings = Settings.from_env(environment)
        self._settings = settings
        self._uri = uri
        self._vision = build_vision_client(settings)
        self._publisher = ResultPublisher(
            build_publisher(settings), settings.topic_path, settings.publish_timeout_seconds
        )
        self._request = build_request(uri, settings)
        self._retry = vision_retry(settings.vision_timeout_seconds)
        self._encoded: tuple[bytes, dict[str, str]] | None = None

    def __call__(self, source_message_id: str) -> None:
        response = self._vision.batch_annotate_images(
            requests=[self._request],
            retry=self._retry,
            timeout=self._settings.vision_timeout_seconds,
        )
        if self._encoded is None:
            # One real result, encoded once: the floor publishes the bytes the function would.
            annotation = read_response(response.responses[0], self._settings.max_labels)
            match = decide(
                annotation, self._settings.target_labels, self._settings.min_score, False
            )
            self._encoded = results.encode(
                results.labeled_result(
                    image_id=1,
                    path=self._uri,
                    uri=self._uri,
                    annotation=annotation,
                    match=match,
                    source_message_id="1",
                    processed_at=results.now_rfc3339(),
                )
            )
        data, attributes = self._encoded
        self._publisher.publish(data, {**attributes, SOURCE_ATTRIBUTE: source_message_id})


_event = Lazy(lambda: FloorEvent(os.environ, os.environ["BENCH_FLOOR_URI"]))


@functions_framework.cloud_event
def floor(cloud_event: CloudEvent) -> None:
    _event.get()(str(cloud_event["id"]))
