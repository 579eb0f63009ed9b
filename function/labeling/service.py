"""One event in, one outcome out: parse, label, decide, publish, log.

Outcomes (the function's contract with Pub/Sub):
- labeled: a `labeled` result is published, the event is acknowledged;
- failed: the message or its image is at fault; a `failed` result is published and the event
  acknowledged, never retried;
- dropped: the message is bad and carries no usable id, so no result can be addressed; an ERROR
  line is logged and the event acknowledged;
- retry: not the message's fault (Vision or Pub/Sub trouble); nothing is published and
  `TransientError` propagates, so Pub/Sub redelivers (and dead-letters after its attempts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labeling import message as messages
from labeling import result as results
from labeling.config import Feature, Settings
from labeling.errors import BadMessage, ImageFailed, MessageId, TransientError
from labeling.logs import log_outcome
from labeling.verdict import Match, decide, no_match
from labeling.vision import Annotation

Annotate = Callable[[str], Annotation]
Publish = Callable[[bytes, dict[str, str]], str]


@dataclass(frozen=True)
class Outcome:
    status: str  # "labeled", "failed" or "dropped"
    image_id: MessageId | None
    matched: bool
    error_code: str | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None


class LabelingService:
    def __init__(
        self,
        settings: Settings,
        annotate: Annotate,
        publish: Publish,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._settings = settings
        self._annotate = annotate
        self._publish = publish
        self._clock = clock
        self._safe_search = Feature.SAFE_SEARCH_DETECTION in settings.vision_features

    def handle(self, event_type: object, event_id: object, data: object) -> Outcome:
        """Process one event; returns to acknowledge it, raises TransientError to have it retried."""
        started = self._clock()
        source_message_id = messages.source_message_id(event_id, data)
        try:
            outcome = self._process(event_type, data, source_message_id)
        except Exception as error:
            # TransientError is expected trouble; anything else is a bug, still never acknowledged:
            # both are redelivered, and both get the event's one log line before the framework's 500.
            transient = isinstance(error, TransientError)
            log_outcome(
                "ERROR",
                _without_uri(
                    f"{'transient failure' if transient else 'unexpected error'}, the message will "
                    f"be redelivered: {type(error).__name__}: {error}",
                    error.uri if isinstance(error, TransientError) else None,
                ),
                image_id=error.image_id if isinstance(error, TransientError) else None,
                status="retry",
                matched=False,
                error_code="TRANSIENT" if transient else "INTERNAL",
                source_message_id=source_message_id,
                latency_seconds=self._clock() - started,
            )
            raise
        log_outcome(
            _SEVERITY[outcome.status],
            _without_uri(_summary(outcome), outcome.result["uri"] if outcome.result else None),
            image_id=outcome.image_id,
            status=outcome.status,
            matched=outcome.matched,
            error_code=outcome.error_code,
            decision=outcome.result.get("decision") if outcome.result else None,
            source_message_id=source_message_id,
            latency_seconds=self._clock() - started,
        )
        return outcome

    def _process(self, event_type: object, data: object, source_message_id: str | None) -> Outcome:
        try:
            request = messages.parse_event(
                event_type, data, self._settings.bucket_name, source_message_id
            )
        except BadMessage as error:
            if error.image_id is None:
                return Outcome("dropped", None, False, error.code, error.message)
            return self._fail(
                image_id=error.image_id,
                path=None,  # refused: never echoed
                uri=None,
                code=error.code,
                message=error.message,
                source_message_id=source_message_id,
            )
        try:
            annotation = self._annotate(request.uri)
        except TransientError as error:
            error.image_id, error.uri = request.image_id, request.uri
            raise
        except ImageFailed as error:
            return self._fail(
                image_id=request.image_id,
                path=request.path,
                uri=request.uri,
                code=error.code,
                message=error.message,
                source_message_id=source_message_id,
            )
        match = decide(
            annotation,
            self._settings.target_labels,
            self._settings.min_score,
            self._safe_search,
            self._settings.review_min_score,
        )
        result = results.labeled_result(
            image_id=request.image_id,
            path=request.path,
            uri=request.uri,
            annotation=annotation,
            match=match,
            source_message_id=source_message_id,
            processed_at=results.now_rfc3339(),
        )
        self._send(result)
        return Outcome(results.LABELED, request.image_id, match.matched, result=result)

    def _fail(
        self,
        *,
        image_id: MessageId,
        path: str | None,
        uri: str | None,
        code: str,
        message: str,
        source_message_id: str | None,
    ) -> Outcome:
        result = results.failed_result(
            image_id=image_id,
            path=path,
            uri=uri,
            code=code,
            message=message,
            match=self._no_match(),
            source_message_id=source_message_id,
            processed_at=results.now_rfc3339(),
        )
        self._send(result)
        return Outcome(results.FAILED, image_id, False, code, message, result)

    def _no_match(self) -> Match:
        return no_match(
            self._settings.target_labels,
            self._settings.min_score,
            self._settings.review_min_score,
        )

    def _send(self, result: dict[str, Any]) -> None:
        data, attributes = results.encode(result)
        try:
            self._publish(data, attributes)
        except TransientError as error:
            error.image_id, error.uri = result["id"], result["uri"]
            raise


_SEVERITY = {"labeled": "INFO", "failed": "WARNING", "dropped": "ERROR"}
# What a log line says instead of the image's URI, which Vision's messages quote ("Error opening
# file: gs://bucket/name.", googlecodelabs/feedback#691): logs keep no object name (labeling.logs).
URI_PLACEHOLDER = "the image"


def _without_uri(text: str, uri: str | None) -> str:
    return text.replace(uri, URI_PLACEHOLDER) if uri else text


def _summary(outcome: Outcome) -> str:
    if outcome.status == "labeled":
        return "image labeled: " + ("match" if outcome.matched else "no match")
    if outcome.status == "failed":
        return f"image failed: {outcome.error_code}: {outcome.error_message}"
    return f"message dropped, no usable id to answer: {outcome.error_code}: {outcome.error_message}"
