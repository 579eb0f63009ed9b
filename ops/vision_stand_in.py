"""A Cloud Vision STAND-IN for `make local VISION=stand-in`: no model, it only recognises the samples.

    STORAGE_EMULATOR_HOST=http://127.0.0.1:9023 python -m ops.vision_stand_in --host 127.0.0.1 --port 0

It serves `google.cloud.vision.v1.ImageAnnotator/BatchAnnotateImages` (what the function calls through
VISION_EMULATOR_HOST) with the real vision_v1 message types. For each image it reads the bytes (a
`gs://` object from the storage emulator, or inline `content`), and if they are exactly one of the
images in ops/samples/manifest.json (same SHA-256, whatever the object is called) it answers that
sample's fixed labels below. Anything else gets a per-image error that says it is a stand-in, so a
result never looks like a real verdict. A missing object answers like Vision: per-image code 7.

The real local Vision emulator (a small on-device model, issue 13) has the same command-line interface
and readiness line shape; `make local` uses it unless VISION=stand-in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent import futures
from pathlib import Path

import grpc
from google.api_core import exceptions as api_exceptions
from google.cloud import vision_v1
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed
from google.rpc import code_pb2, status_pb2

from ops.common import UsageError

SERVICE = "google.cloud.vision.v1.ImageAnnotator"
MANIFEST = Path(__file__).resolve().parent / "samples" / "manifest.json"
READY_LINE = "Vision STAND-IN listening on"
# What the stand-in "sees" in each shipped sample (ops/samples/README.md says what they show).
SAMPLE_LABELS: Mapping[str, tuple[tuple[str, float], ...]] = {
    "bicycle.png": (("Bicycle", 0.97), ("Bicycle wheel", 0.93), ("Wheel", 0.9)),
    "house.png": (("House", 0.95), ("Roof", 0.91), ("Sun", 0.84)),
}
UNKNOWN_IMAGE = (
    "Vision STAND-IN: not one of the shipped sample images (ops/samples), the only images it "
    "recognises; run `make local` without VISION=stand-in to label your own with the Vision emulator"
)
UNKNOWN = vision_v1.Likelihood.UNKNOWN


def sample_answers(
    manifest: Path = MANIFEST,
) -> dict[str, tuple[str, tuple[tuple[str, float], ...]]]:
    """SHA-256 of each sample's bytes -> (its file name, its labels)."""
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))["images"]
        answers = {}
        for entry in entries:
            name = entry["file"]
            digest = hashlib.sha256((manifest.parent / name).read_bytes()).hexdigest()
            answers[digest] = (name, SAMPLE_LABELS[name])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot read the samples of {manifest}: {error!r}") from error
    return answers


class StandInVision:
    def __init__(
        self, storage: StorageClient, answers: Mapping[str, tuple[str, Sequence[tuple[str, float]]]]
    ) -> None:
        self._storage = storage
        self._answers = answers
        self._lock = threading.Lock()

    def read(self, image: vision_v1.Image) -> bytes | str:
        """The image's bytes, or the per-image error message for an object Vision cannot open."""
        if image.content:
            return bytes(image.content)
        uri = image.source.gcs_image_uri or image.source.image_uri
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        if not uri.startswith("gs://") or not bucket or not name:
            return f"Error opening file: {uri}."
        try:
            data: bytes = self._storage.bucket(bucket).blob(name).download_as_bytes()
        except api_exceptions.NotFound:
            return f"Error opening file: {uri}."
        return data

    def annotate(self, request: vision_v1.AnnotateImageRequest) -> vision_v1.AnnotateImageResponse:
        data = self.read(request.image)
        if isinstance(data, str):
            return vision_v1.AnnotateImageResponse(
                error=status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=data)
            )
        known = self._answers.get(hashlib.sha256(data).hexdigest())
        if known is None:
            return vision_v1.AnnotateImageResponse(
                error=status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=UNKNOWN_IMAGE)
            )
        sample, labels = known
        response = vision_v1.AnnotateImageResponse()
        for feature in request.features:
            if feature.type_ == vision_v1.Feature.Type.LABEL_DETECTION:
                limit = feature.max_results or len(labels)
                response.label_annotations = [
                    vision_v1.EntityAnnotation(
                        mid=f"/stand-in/{sample}/{index}",
                        description=description,
                        score=score,
                        topicality=score,
                    )
                    for index, (description, score) in enumerate(labels[:limit])
                ]
            elif feature.type_ == vision_v1.Feature.Type.SAFE_SEARCH_DETECTION:
                # Nothing was judged, so nothing is claimed.
                response.safe_search_annotation = vision_v1.SafeSearchAnnotation(
                    adult=UNKNOWN, spoof=UNKNOWN, medical=UNKNOWN, violence=UNKNOWN, racy=UNKNOWN
                )
        return response

    def batch_annotate_images(
        self, request: vision_v1.BatchAnnotateImagesRequest, context: grpc.ServicerContext
    ) -> vision_v1.BatchAnnotateImagesResponse:
        return vision_v1.BatchAnnotateImagesResponse(
            responses=[self.annotate(image_request) for image_request in request.requests]
        )


def serve(host: str, port: int, storage: StorageClient) -> tuple[grpc.Server, int]:
    vision = StandInVision(storage, sample_answers())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="vision"))
    handler = grpc.unary_unary_rpc_method_handler(
        vision.batch_annotate_images,
        request_deserializer=vision_v1.BatchAnnotateImagesRequest.deserialize,
        response_serializer=vision_v1.BatchAnnotateImagesResponse.serialize,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"BatchAnnotateImages": handler}),)
    )
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise UsageError(f"cannot listen on {host}:{port} (is the port taken?)")
    server.start()
    return server, bound


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.vision_stand_in",
        description="A Cloud Vision stand-in that recognises only the shipped sample images.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    arguments = parser.parse_args(argv)
    if not os.environ.get("STORAGE_EMULATOR_HOST", "").strip():
        # Without it the storage client would read real Cloud Storage with your own credentials.
        print(
            "vision stand-in ERROR: STORAGE_EMULATOR_HOST is not set: the stand-in reads gs:// images "
            "only from a storage emulator, never from Cloud Storage",
            file=sys.stderr,
        )
        return 2
    try:
        server, port = serve(arguments.host, arguments.port, StorageClient(project="local"))
    except UsageError as error:
        print(f"vision stand-in ERROR: {error}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(
        f"{READY_LINE} {arguments.host}:{port} (no model: it recognises only the "
        f"{len(SAMPLE_LABELS)} shipped sample images, by content)",
        flush=True,
    )
    stopped.wait()
    server.stop(grace=1).wait(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
