"""`ImageAnnotator.BatchAnnotateImages`, answered by the detector, in Vision's message types.

Requests and responses are the raw protobuf messages under `google.cloud.vision_v1` (what the client sends
on the wire). What the emulator answers, per feature:
- LABEL_DETECTION: one `EntityAnnotation` per class scoring at least the minimum score anywhere in the
  image (the whole image and its windows: Detector.detect, docs/vision-emulator.md "Tiling")
  (description, mid, score, topicality = score), best first, at most `max_results` (default 10).
- OBJECT_LOCALIZATION: one `LocalizedObjectAnnotation` per detected box (name, mid, score, normalized
  vertices clockwise from the top left), best first, at most `max_results` (default 10).
- SAFE_SEARCH_DETECTION: a `SafeSearchAnnotation` with every likelihood UNKNOWN: the model cannot judge it,
  so the emulator says so instead of inventing an answer.
Any other feature is ignored, as if not asked for (logged once per feature and process): Vision
answers each feature on its own, and `annotate_image` without features asks for every one.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
from google.cloud import vision_v1

from vision_emulator.classes import CLASSES
from vision_emulator.images import (
    INVALID_ARGUMENT,
    UNIMPLEMENTED,
    ImageError,
    StorageReader,
    check_size,
    decode,
)
from vision_emulator.model import Detections, Detector

SERVICE = "google.cloud.vision.v1.ImageAnnotator"
METHOD = "BatchAnnotateImages"
# https://cloud.google.com/vision/quotas: images per request.
MAX_IMAGES_PER_REQUEST = 16
DEFAULT_MAX_RESULTS = 10
# Room for a few images at Vision's 20 MB limit, so an oversized image gets its per-image error.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

BATCH_REQUEST = vision_v1.BatchAnnotateImagesRequest.pb()
BATCH_RESPONSE = vision_v1.BatchAnnotateImagesResponse.pb()
IMAGE_RESPONSE = vision_v1.AnnotateImageResponse.pb()

LABEL_DETECTION = int(vision_v1.Feature.Type.LABEL_DETECTION)
OBJECT_LOCALIZATION = int(vision_v1.Feature.Type.OBJECT_LOCALIZATION)
SAFE_SEARCH_DETECTION = int(vision_v1.Feature.Type.SAFE_SEARCH_DETECTION)
SUPPORTED = (LABEL_DETECTION, OBJECT_LOCALIZATION, SAFE_SEARCH_DETECTION)


_ignored_features: set[str] = set()
_ignored_lock = threading.Lock()


def feature_limits(features: Sequence[Any]) -> dict[int, int]:
    """Requested feature type -> max_results (0 means the default), for the features answered here.

    The others are left out, as Vision answers each feature independently, and logged once.
    """
    if not features:
        raise ImageError(INVALID_ARGUMENT, "No feature specified: request at least one feature.")
    limits: dict[int, int] = {}
    ignored = []
    for feature in features:
        if feature.type_ not in SUPPORTED:
            ignored.append(feature_name(feature.type_))
            continue
        # The largest asked for, when a type comes twice; 0 or less means the default.
        limits[feature.type_] = max(limits.get(feature.type_, 0), feature.max_results, 0)
    with _ignored_lock:
        new = sorted(set(ignored) - _ignored_features)
        _ignored_features.update(new)
    if new:
        log(
            "WARNING",
            "features not implemented by the Vision emulator are left unanswered",
            features=new,
            answered=["LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION"],
        )
    return limits


def feature_name(value: int) -> str:
    """A feature type's name, or its number when it is none of the types this client knows."""
    try:
        return str(vision_v1.Feature.Type(value).name)
    except ValueError:
        return f"feature type {value}"


class Annotator:
    """Answers one batch: every image independently, each with its result or its own error."""

    def __init__(self, detector: Detector, storage: StorageReader) -> None:
        self.detector = detector
        self.storage = storage

    def batch(self, request: Any) -> Any:
        response = BATCH_RESPONSE()
        for image_request in request.requests:
            response.responses.append(self.annotate(image_request))
        return response

    def annotate(self, request: Any) -> Any:
        response = IMAGE_RESPONSE()
        try:
            limits = feature_limits(request.features)
            data = self.image_bytes(request.image)
            # Decoded in the detector's turn: at most --parallelism images decoded at once, whatever
            # the number of server threads (a decoded image can take up to 300 MB, images.MAX_PIXELS).
            with self.detector.turn() as detect:
                detections = detect(decode(data))
        except ImageError as error:
            response.error.code = error.code
            response.error.message = error.message
            return response
        if LABEL_DETECTION in limits:
            self._labels(response, detections, limits[LABEL_DETECTION] or DEFAULT_MAX_RESULTS)
        if OBJECT_LOCALIZATION in limits:
            self._objects(response, detections, limits[OBJECT_LOCALIZATION] or DEFAULT_MAX_RESULTS)
        if SAFE_SEARCH_DETECTION in limits:
            response.safe_search_annotation.SetInParent()  # every likelihood left at UNKNOWN (0)
        return response

    def image_bytes(self, image: Any) -> bytes:
        if image.content:
            check_size(len(image.content))
            return bytes(image.content)
        uri = image.source.gcs_image_uri or image.source.image_uri
        if not uri:
            raise ImageError(INVALID_ARGUMENT, "No image present.")
        if uri.startswith("gs://"):
            return self.storage.read(uri)
        raise ImageError(
            UNIMPLEMENTED,
            f"The Vision emulator reads only gs:// objects and content, not {uri}.",
        )

    def _labels(self, response: Any, detections: Detections, limit: int) -> None:
        ranked = sorted(
            zip(CLASSES, detections.class_scores, strict=True),
            key=lambda pair: pair[1],
            reverse=True,
        )
        for detector_class, score in ranked[:limit]:
            if score < self.detector.min_score:
                break
            response.label_annotations.add(
                mid=detector_class.mid,
                description=detector_class.name,
                score=score,
                topicality=score,
            )

    @staticmethod
    def _objects(response: Any, detections: Detections, limit: int) -> None:
        for found in detections.objects[:limit]:
            annotation = response.localized_object_annotations.add(
                mid=found.detector_class.mid, name=found.detector_class.name, score=found.score
            )
            box = found.box
            for x, y in (
                (box.x_min, box.y_min),
                (box.x_max, box.y_min),
                (box.x_max, box.y_max),
                (box.x_min, box.y_max),
            ):
                annotation.bounding_poly.normalized_vertices.add(x=x, y=y)


def log(severity: str, message: str, **fields: object) -> None:
    """One JSON line per event on stderr (stdout carries only the readiness line)."""
    print(
        json.dumps({"severity": severity, "message": message, **fields}),
        file=sys.stderr,
        flush=True,
    )


def build_server(annotator: Annotator, workers: int = 16) -> grpc.Server:
    def batch_annotate_images(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        count = len(request.requests)
        if count > MAX_IMAGES_PER_REQUEST:
            log("WARNING", "request refused", images=count, code="INVALID_ARGUMENT")
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"At most {MAX_IMAGES_PER_REQUEST} images are allowed per request, got {count}.",
            )
        response = annotator.batch(request)
        log(
            "INFO",
            "annotated",
            images=count,
            error_codes=[item.error.code for item in response.responses if item.error.code],
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vision-emulator"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),  # a port in use is an error, never shared with another server
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(
        batch_annotate_images,
        request_deserializer=BATCH_REQUEST.FromString,
        response_serializer=BATCH_RESPONSE.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),)
    )
    return server
