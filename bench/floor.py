"""The floor: the function's two RPCs made directly, with the function's own clients, and nothing else.

Per event it does exactly what the function cannot avoid: BatchAnnotateImages for one gs:// URI (same
request, retry and timeout as labeling.vision), then Publish of one result message of the real size
through labeling.publisher's ResultPublisher, waiting for its id. No CloudEvent, no parsing, no verdict, no
logging. Two ways to run it:

- `python -m bench.floor`, its own process like the function's server (so neither shares a GIL with the
  wire fakes), with **no HTTP**. Protocol, so the benchmark can interleave floor and function blocks
  under the same machine load: each line on stdin is a number of events; the answer is one JSON line
  `{"latencies": [seconds, ...]}`.
- `bench/floor_function/main.py`, the same event behind functions-framework (`FloorEvent` below), for
  the measurements that must include the server: concurrency and publish-to-result.

Both read the deployed environment (with the emulator hosts) from os.environ.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping

from google.cloud import vision_v1

from labeling import result as results
from labeling.clients import build_publisher, build_vision_client
from labeling.config import Settings
from labeling.publisher import ResultPublisher
from labeling.verdict import decide
from labeling.vision import build_request, read_response, vision_retry

SOURCE_ATTRIBUTE = "source_message_id"  # what the floor function adds, so a result can be matched


class FloorEvent:
    """One event's two RPCs; the first call to Vision happens here, to encode one real result."""

    def __init__(self, environment: Mapping[str, str], uri: str) -> None:
        settings = Settings.from_env(environment)
        self._settings = settings
        self._vision = build_vision_client(settings)
        self._publisher = ResultPublisher(
            build_publisher(settings), settings.topic_path, settings.publish_timeout_seconds
        )
        self._request = build_request(uri, settings)
        self._retry = vision_retry(settings.vision_timeout_seconds)
        first = self._annotate()
        annotation = read_response(first.responses[0], settings.max_labels)
        result = results.labeled_result(
            image_id=1,
            path=uri,
            uri=uri,
            annotation=annotation,
            match=decide(annotation, settings.target_labels, settings.min_score, False),
            source_message_id="1",
            processed_at=results.now_rfc3339(),
        )
        # One real result message, encoded once: the floor publishes the bytes the function would.
        self._data, self._attributes = results.encode(result)

    def _annotate(self) -> vision_v1.BatchAnnotateImagesResponse:
        response = self._vision.batch_annotate_images(
            requests=[self._request],
            retry=self._retry,
            timeout=self._settings.vision_timeout_seconds,
        )
        assert len(response.responses) == 1
        return response

    def __call__(self, source_message_id: str | None = None) -> None:
        self._annotate()
        attributes = self._attributes
        if source_message_id is not None:
            attributes = {**attributes, SOURCE_ATTRIBUTE: source_message_id}
        self._publisher.publish(self._data, attributes)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    one_event = FloorEvent(os.environ, args.uri)
    for _ in range(args.warmup):
        one_event()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        latencies = []
        for _ in range(int(line)):
            before = time.perf_counter()
            one_event()
            latencies.append(time.perf_counter() - before)
        print(json.dumps({"latencies": latencies}), flush=True)


if __name__ == "__main__":
    main()
