"""The floor: the function's two RPCs made directly, with the function's own clients, and nothing else.

Run as its own process (`python -m bench.floor`), like the function's server, so neither shares a GIL
with the wire fakes. Reads the deployed environment (with the emulator hosts) from os.environ. Per event
it does exactly what the function cannot avoid: BatchAnnotateImages for one gs:// URI (same request,
retry and timeout as labeling.vision), then Publish of one result message of the real size through
labeling.publisher's ResultPublisher, waiting for its id. No HTTP, no CloudEvent, no parsing, no verdict, no
logging.

Protocol, so the benchmark can interleave floor and function blocks under the same machine load: each
line on stdin is a number of events; the answer is one JSON line `{"latencies": [seconds, ...]}`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import bench  # noqa: F401  (puts function/ on sys.path)
from labeling import result as results
from labeling.clients import build_publisher, build_vision_client
from labeling.config import Settings
from labeling.publisher import ResultPublisher
from labeling.verdict import decide
from labeling.vision import build_request, read_response, vision_retry


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    settings = Settings.from_env(os.environ)
    vision = build_vision_client(settings)
    publisher = ResultPublisher(
        build_publisher(settings), settings.topic_path, settings.publish_timeout_seconds
    )
    request = build_request(args.uri, settings)
    retry = vision_retry(settings.vision_timeout_seconds)
    timeout = settings.vision_timeout_seconds

    # One real result message, encoded once: the floor publishes the same bytes the function would.
    first = vision.batch_annotate_images(requests=[request], retry=retry, timeout=timeout)
    annotation = read_response(first.responses[0], settings.max_labels)
    result = results.labeled_result(
        image_id=1,
        path=args.uri,
        uri=args.uri,
        annotation=annotation,
        match=decide(annotation, settings.target_labels, settings.min_score, False),
        source_message_id="1",
        processed_at=results.now_rfc3339(),
    )
    data, attributes = results.encode(result)

    def one_event() -> None:
        response = vision.batch_annotate_images(requests=[request], retry=retry, timeout=timeout)
        assert len(response.responses) == 1
        publisher.publish(data, attributes)

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
