"""Ask Cloud Vision about one `gs://` object and turn its answer into plain, typed values.

Vision reports a problem with the image inside a successful response (`AnnotateImageResponse.error`), not
as an exception: codes 3, 5 and 7 mean the image is at fault and become `ImageFailed`; any other code, and
any exception from the call, is not the message's fault and becomes `TransientError` so the message is
redelivered. https://cloud.google.com/vision/docs/reference/rpc/google.cloud.vision.v1#annotateimageresponse
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.cloud import vision_v1

from labeling.config import Feature, Settings
from labeling.errors import ImageFailed, TransientError
from labeling.retries import in_call_retry
from labeling.verdict import is_unsafe

# Per-image codes (google.rpc.Code) that mean the image itself cannot be labeled.
IMAGE_FAILURES = {
    3: "NOT_AN_IMAGE",  # INVALID_ARGUMENT: "Bad image data"
    5: "IMAGE_NOT_FOUND",  # NOT_FOUND
    7: "IMAGE_UNREADABLE",  # PERMISSION_DENIED: missing object or no read access, "Error opening file"
}
SAFE_SEARCH_CATEGORIES = ("adult", "spoof", "medical", "violence", "racy")
SCORE_DIGITS = 6  # Vision scores are float32: six decimals keep every significant digit, no noise
# A ten-thousandth of the image's side: finer than a pixel of any photo Vision reads (75 M pixels).
BOX_DIGITS = 4

# Our feature names are Vision's own.
_FEATURE_TYPES = {feature: getattr(vision_v1.Feature.Type, feature.value) for feature in Feature}

_REQUEST_PB = vision_v1.AnnotateImageRequest.pb()

RETRYABLE = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.TooManyRequests,  # RESOURCE_EXHAUSTED maps to 429
    api_exceptions.InternalServerError,
)


@dataclass(frozen=True)
class Label:
    description: str
    score: float
    mid: str
    topicality: float


@dataclass(frozen=True)
class Box:
    """Where an object is, as fractions of the image from its top-left corner (contracts/)."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class DetectedObject:
    name: str
    score: float
    mid: str
    box: Box | None = None


@dataclass(frozen=True)
class SafeSearch:
    likelihoods: dict[str, str]  # category -> Likelihood name, e.g. {"adult": "VERY_UNLIKELY"}

    @property
    def unsafe(self) -> bool:
        return is_unsafe(self.likelihoods)


@dataclass(frozen=True)
class Annotation:
    labels: tuple[Label, ...]
    objects: tuple[DetectedObject, ...] = ()
    safe_search: SafeSearch | None = None


def vision_retry(budget_seconds: float) -> api_retry.Retry:
    """Retry transient call errors with backoff for a short window inside the budget."""
    return in_call_retry(RETRYABLE, budget_seconds)


def build_request(uri: str, settings: Settings) -> vision_v1.AnnotateImageRequest:
    """The request for one image. Built as the raw protobuf and wrapped: proto-plus constructors marshal
    nested messages field by field, which costs ten times as much (about 13 µs against 1.5 µs)."""
    request: vision_v1.AnnotateImageRequest = vision_v1.AnnotateImageRequest.wrap(
        _REQUEST_PB(
            image={"source": {"gcs_image_uri": uri}},
            features=[
                {
                    "type_": _FEATURE_TYPES[feature],
                    "max_results": (
                        0 if feature is Feature.SAFE_SEARCH_DETECTION else settings.max_labels
                    ),
                }
                for feature in settings.vision_features
            ],
        )
    )
    return request


class VisionLabeler:
    """Labels one image per call with a shared, thread-safe ImageAnnotatorClient."""

    def __init__(self, client: vision_v1.ImageAnnotatorClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._retry = vision_retry(settings.vision_timeout_seconds)

    def annotate(self, uri: str) -> Annotation:
        request = build_request(uri, self._settings)
        try:
            # A float timeout becomes a deadline across attempts (api_core TimeToDeadlineTimeout),
            # so the whole call, retries included, stays within VISION_TIMEOUT_SECONDS.
            batch = self._client.batch_annotate_images(
                requests=[request],
                retry=self._retry,
                timeout=self._settings.vision_timeout_seconds,
            )
        except (api_exceptions.GoogleAPIError, TimeoutError) as error:
            raise TransientError(f"Vision call failed: {type(error).__name__}: {error}") from error
        responses = vision_v1.BatchAnnotateImagesResponse.pb(batch).responses
        if len(responses) != 1:
            raise TransientError(f"Vision answered {len(responses)} responses for 1 image")
        return _read(responses[0], self._settings.max_labels)


def read_response(response: vision_v1.AnnotateImageResponse, max_labels: int) -> Annotation:
    """Turn one AnnotateImageResponse into an Annotation, or raise for its per-image error."""
    return _read(vision_v1.AnnotateImageResponse.pb(response), max_labels)


def _read(response: Any, max_labels: int) -> Annotation:
    """read_response on the raw protobuf message under the proto-plus one. Every proto-plus attribute
    read marshals its value anew; reading the protobuf itself gives the same values (float32 scores as
    Python floats, enums as ints) in a fraction of the time (about 2 µs against 65 µs per response)."""
    code = response.error.code
    if code:
        message = response.error.message or f"Vision error code {code}"
        if code in IMAGE_FAILURES:
            raise ImageFailed(IMAGE_FAILURES[code], message, code)
        raise TransientError(f"Vision per-image error code {code}: {message}")
    labels = sorted(
        (
            Label(
                description=item.description,
                score=round(item.score, SCORE_DIGITS),
                mid=item.mid,
                topicality=round(item.topicality, SCORE_DIGITS),
            )
            for item in response.label_annotations
        ),
        key=lambda item: item.score,
        reverse=True,
    )
    objects = sorted(
        (
            DetectedObject(
                name=item.name,
                score=round(item.score, SCORE_DIGITS),
                mid=item.mid,
                box=_box(item.bounding_poly.normalized_vertices),
            )
            for item in response.localized_object_annotations
        ),
        key=lambda item: item.score,
        reverse=True,
    )
    return Annotation(
        labels=tuple(labels[:max_labels]),
        objects=tuple(objects[:max_labels]),
        safe_search=(
            _safe_search(response.safe_search_annotation)
            if response.HasField("safe_search_annotation")
            else None
        ),
    )


def _box(vertices: Any) -> Box | None:
    """The rectangle around an object's normalized bounding polygon, inside the image; None
    without one. Vision leaves a coordinate of 0 out (proto3), which reads back as 0.0."""
    if not vertices:
        return None
    xs = [min(max(vertex.x, 0.0), 1.0) for vertex in vertices]
    ys = [min(max(vertex.y, 0.0), 1.0) for vertex in vertices]
    left, top = round(min(xs), BOX_DIGITS), round(min(ys), BOX_DIGITS)
    right, bottom = round(max(xs), BOX_DIGITS), round(max(ys), BOX_DIGITS)
    return Box(left, top, round(right - left, BOX_DIGITS), round(bottom - top, BOX_DIGITS))


def _safe_search(annotation: Any) -> SafeSearch:
    return SafeSearch(
        likelihoods={
            category: vision_v1.Likelihood(getattr(annotation, category)).name
            for category in SAFE_SEARCH_CATEGORIES
        }
    )
