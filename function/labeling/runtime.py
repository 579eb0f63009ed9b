"""Assemble the service for one instance: settings in, a LabelingService with lazily built clients out."""

from __future__ import annotations

from labeling.clients import Lazy, build_publisher, build_vision_client
from labeling.config import Settings
from labeling.publisher import ResultPublisher
from labeling.service import LabelingService
from labeling.vision import Annotation, VisionLabeler


def build_service(settings: Settings) -> LabelingService:
    """Clients are created on the first event, once, and shared by every thread of the instance."""
    labeler = Lazy(lambda: VisionLabeler(build_vision_client(settings), settings))
    publisher = Lazy(
        lambda: ResultPublisher(
            build_publisher(settings), settings.topic_path, settings.publish_timeout_seconds
        )
    )

    def annotate(uri: str) -> Annotation:
        return labeler.get().annotate(uri)

    def publish(data: bytes, attributes: dict[str, str]) -> str:
        return publisher.get().publish(data, attributes)

    return LabelingService(settings, annotate=annotate, publish=publish)
