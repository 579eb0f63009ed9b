"""A Cloud Vision `ImageAnnotator.BatchAnnotateImages` fake serving the real vision_v1 message types.

Images are registered by `gs://` URI. An unknown URI answers like Vision does for a missing object or
one it may not read: a per-image error with code 7 inside a successful response. A `RateLimit`
enforces a quota the way Vision does above it: RESOURCE_EXHAUSTED, consuming nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from google.cloud import vision_v1
from google.rpc import status_pb2

from bench.fakes.grpc_server import Faults, GrpcFakeServer, Method, apply_faults
from bench.overload import TokenBucket

SERVICE = "google.cloud.vision.v1.ImageAnnotator"

BICYCLE_LABELS: tuple[tuple[str, float], ...] = (
    ("Bicycle", 0.97),
    ("Wheel", 0.95),
    ("Bicycle wheel", 0.93),
    ("Tire", 0.91),
    ("Bicycle frame", 0.88),
)
CAT_LABELS: tuple[tuple[str, float], ...] = (("Cat", 0.98), ("Whiskers", 0.9), ("Felidae", 0.87))


def label(description: str, score: float, index: int = 0) -> vision_v1.EntityAnnotation:
    return vision_v1.EntityAnnotation(
        mid=f"/m/fake{index:03d}",
        description=description,
        score=score,
        topicality=score,
    )


@dataclass
class FakeImage:
    """What Vision answers for one image."""

    labels: Sequence[tuple[str, float]] = BICYCLE_LABELS
    # (name, score), or (name, score, vertices): its normalized bounding polygon, [(x, y), ...].
    objects: Sequence[tuple[str, float] | tuple[str, float, Sequence[tuple[float, float]]]] = ()
    safe_search: dict[str, int] | None = None  # category -> vision_v1.Likelihood
    error_code: int = 0
    error_message: str = ""

    def response(self, features: Sequence[vision_v1.Feature]) -> vision_v1.AnnotateImageResponse:
        if self.error_code:
            return vision_v1.AnnotateImageResponse(
                error=status_pb2.Status(code=self.error_code, message=self.error_message)
            )
        response = vision_v1.AnnotateImageResponse()
        wanted: dict[int, vision_v1.Feature] = {feature.type_: feature for feature in features}
        label_feature = wanted.get(vision_v1.Feature.Type.LABEL_DETECTION)
        if label_feature is not None:
            # Vision returns the best-scoring labels first, at most max_results of them.
            ranked = sorted(self.labels, key=lambda item: item[1], reverse=True)
            limit = label_feature.max_results or len(ranked)
            response.label_annotations = [
                label(name, score, index) for index, (name, score) in enumerate(ranked[:limit])
            ]
        object_feature = wanted.get(vision_v1.Feature.Type.OBJECT_LOCALIZATION)
        if object_feature is not None:
            limit = object_feature.max_results or len(self.objects)
            response.localized_object_annotations = [
                vision_v1.LocalizedObjectAnnotation(
                    mid=f"/m/obj{index:03d}",
                    name=item[0],
                    score=item[1],
                    bounding_poly=vision_v1.BoundingPoly(
                        normalized_vertices=[
                            vision_v1.NormalizedVertex(x=x, y=y)
                            for x, y in (item[2] if len(item) > 2 else ())
                        ]
                    ),
                )
                for index, item in enumerate(self.objects[:limit])
            ]
        if vision_v1.Feature.Type.SAFE_SEARCH_DETECTION in wanted:
            likelihoods = self.safe_search or {}
            response.safe_search_annotation = vision_v1.SafeSearchAnnotation(
                **{
                    category: likelihoods.get(category, vision_v1.Likelihood.VERY_UNLIKELY)
                    for category in ("adult", "spoof", "medical", "violence", "racy")
                }
            )
        return response


class RateLimit:
    """A project quota: `per_second` requests, `burst` banked (the simulator's token bucket, on the
    real clock); counts what it let through and what it refused."""

    def __init__(self, per_second: float, burst: float) -> None:
        self._bucket = TokenBucket(per_second, burst, time.monotonic())
        self._lock = threading.Lock()
        self.allowed = 0
        self.refused = 0

    def take(self) -> bool:
        with self._lock:
            allowed = self._bucket.take(time.monotonic())
            if allowed:
                self.allowed += 1
            else:
                self.refused += 1
            return allowed


@dataclass
class FakeVision:
    """Serves BatchAnnotateImages; records every request it answered or refused."""

    images: dict[str, FakeImage] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    requests: list[vision_v1.BatchAnnotateImagesRequest] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)  # the client address of every call
    host: str = ""  # set once a server for this fake is started
    rate_limit: RateLimit | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_image(self, uri: str, image: FakeImage | None = None) -> None:
        self.images[uri] = image or FakeImage()

    def requested_uris(self) -> list[str]:
        with self._lock:
            return [
                image_request.image.source.gcs_image_uri or image_request.image.source.image_uri
                for request in self.requests
                for image_request in request.requests
            ]

    def batch_annotate_images(
        self, request: vision_v1.BatchAnnotateImagesRequest, context: grpc.ServicerContext
    ) -> vision_v1.BatchAnnotateImagesResponse:
        with self._lock:
            self.requests.append(request)
            self.peers.append(context.peer())
        apply_faults(self.faults, context, "BatchAnnotateImages")
        if self.rate_limit is not None and not self.rate_limit.take():
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "Quota exceeded for quota metric 'Requests' (fake rate limit)",
            )
        responses = []
        for image_request in request.requests:
            uri = image_request.image.source.gcs_image_uri
            image = self.images.get(uri)
            if image is None:
                image = FakeImage(error_code=7, error_message=f"Error opening file: {uri}.")
            responses.append(image.response(image_request.features))
        return vision_v1.BatchAnnotateImagesResponse(responses=responses)

    def server(self) -> GrpcFakeServer:
        method = Method(
            "BatchAnnotateImages",
            self.batch_annotate_images,
            vision_v1.BatchAnnotateImagesRequest,
            vision_v1.BatchAnnotateImagesResponse,
        )
        server = GrpcFakeServer({SERVICE: [method]})
        self.host = server.host
        return server
