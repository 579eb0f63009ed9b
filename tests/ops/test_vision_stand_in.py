"""The Vision stand-in of `make local VISION=stand-in`: the samples by content, and says what it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from gcp_storage_emulator.server import create_server
from google.cloud import vision_v1
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed
from google.cloud.vision_v1.services.image_annotator.transports import ImageAnnotatorGrpcTransport

from ops import vision_stand_in
from ops.processes import free_port

SAMPLES = Path(__file__).resolve().parents[2] / "ops" / "samples"
BUCKET = "stand-in-images"


@pytest.fixture(scope="module")
def storage() -> Iterator[StorageClient]:
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
            yield StorageClient(project="local")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def vision(storage: StorageClient) -> Iterator[vision_v1.ImageAnnotatorClient]:
    server, port = vision_stand_in.serve("127.0.0.1", 0, storage)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    transport = ImageAnnotatorGrpcTransport(channel=channel)
    try:
        yield vision_v1.ImageAnnotatorClient(transport=transport)
    finally:
        channel.close()
        server.stop(grace=None)


def annotate(
    client: vision_v1.ImageAnnotatorClient, image: vision_v1.Image
) -> vision_v1.AnnotateImageResponse:
    features = [
        vision_v1.Feature(type_=vision_v1.Feature.Type.LABEL_DETECTION, max_results=2),
        vision_v1.Feature(type_=vision_v1.Feature.Type.SAFE_SEARCH_DETECTION),
    ]
    response = client.batch_annotate_images(
        requests=[vision_v1.AnnotateImageRequest(image=image, features=features)], timeout=10
    )
    return response.responses[0]


def gcs(uri: str) -> vision_v1.Image:
    return vision_v1.Image(source=vision_v1.ImageSource(gcs_image_uri=uri))


def test_a_sample_is_recognised_by_its_content_whatever_its_name(
    storage: StorageClient, vision: vision_v1.ImageAnnotatorClient
) -> None:
    storage.bucket(BUCKET).blob("uploads/ride-1.jpg").upload_from_filename(
        str(SAMPLES / "bicycle.png")
    )

    response = annotate(vision, gcs(f"gs://{BUCKET}/uploads/ride-1.jpg"))

    assert not response.error.code
    assert [(label.description, round(label.score, 2)) for label in response.label_annotations] == [
        ("Bicycle", 0.97),
        ("Bicycle wheel", 0.93),
    ], "max_results honoured"
    assert response.label_annotations[0].mid.startswith("/stand-in/")
    unknown = vision_v1.Likelihood.UNKNOWN
    assert response.safe_search_annotation.adult == unknown, "nothing judged, nothing claimed"


def test_inline_content_works_too(vision: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(vision, vision_v1.Image(content=(SAMPLES / "house.png").read_bytes()))

    assert [label.description for label in response.label_annotations] == ["House", "Roof"]


def test_any_other_image_gets_an_error_that_says_it_is_a_stand_in(
    storage: StorageClient, vision: vision_v1.ImageAnnotatorClient
) -> None:
    storage.bucket(BUCKET).blob("mine.jpg").upload_from_string(b"\xff\xd8\xff a photo of mine")

    response = annotate(vision, gcs(f"gs://{BUCKET}/mine.jpg"))

    assert response.error.code == 3  # INVALID_ARGUMENT: the function reports NOT_AN_IMAGE
    assert "Vision STAND-IN" in response.error.message
    assert "without VISION=stand-in" in response.error.message
    assert list(response.label_annotations) == []


def test_a_missing_object_answers_like_vision(vision: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(vision, gcs(f"gs://{BUCKET}/never-uploaded.jpg"))

    assert response.error.code == 7
    assert response.error.message == f"Error opening file: gs://{BUCKET}/never-uploaded.jpg."


def test_every_sample_of_the_manifest_has_an_answer() -> None:
    answers = vision_stand_in.sample_answers()
    assert sorted(name for name, _ in answers.values()) == ["bicycle.png", "house.png"]
