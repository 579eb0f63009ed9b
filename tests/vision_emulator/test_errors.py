"""What Vision refuses, the emulator refuses the same way: a per-image error inside a successful
response (the batch's other images are still answered), with Vision's code, which the function maps to
its own outcome (labeling.vision.IMAGE_FAILURES)."""

from __future__ import annotations

import io
import json

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import vision_v1
from PIL import Image

from labeling.clients import build_vision_client
from labeling.config import Settings
from labeling.errors import ImageFailed
from labeling.vision import VisionLabeler
from ops.emulators import VisionEmulator
from ops.processes import free_port
from tests.vision_emulator.conftest import BUCKET, LABELS, annotate, gcs_image, photo

TWENTY_MB = 20 * 1024 * 1024


def test_a_missing_object_is_code_7_error_opening_file_as_vision_words_it(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    uri = f"gs://{BUCKET}/photos/never-uploaded.jpg"
    response = annotate(client, gcs_image(uri), LABELS)
    assert response.error.code == 7
    assert response.error.message == f"Error opening file: {uri}."
    assert not response.label_annotations


def test_the_function_reads_a_missing_object_as_an_unreadable_image(
    client: vision_v1.ImageAnnotatorClient, settings: Settings
) -> None:
    with pytest.raises(ImageFailed) as failure:
        VisionLabeler(client, settings).annotate(f"gs://{BUCKET}/photos/never-uploaded.jpg")
    assert failure.value.code == "IMAGE_UNREADABLE"
    assert failure.value.vision_code == 7


def test_a_missing_bucket_is_code_7_too(client: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(client, gcs_image("gs://no-such-bucket/photo.jpg"), LABELS)
    assert response.error.code == 7


def test_a_gs_uri_without_an_object_is_code_3(client: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(client, gcs_image(f"gs://{BUCKET}"), LABELS)
    assert response.error.code == 3
    assert "Invalid GCS path" in response.error.message


@pytest.mark.parametrize(
    "data",
    [b"this is not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"\xff\xd8\xff" + b"\x01" * 50],
    ids=["text", "png-header-only", "jpeg-header-only"],
)
def test_bytes_that_are_no_image_are_code_3_bad_image_data(
    client: vision_v1.ImageAnnotatorClient, bucket: object, data: bytes
) -> None:
    bucket.blob("errors/not-an-image.jpg").upload_from_string(data)  # type: ignore[attr-defined]
    by_uri = annotate(client, gcs_image(f"gs://{BUCKET}/errors/not-an-image.jpg"), LABELS)
    by_content = annotate(client, vision_v1.Image(content=data), LABELS)
    for response in (by_uri, by_content):
        assert response.error.code == 3
        assert response.error.message == "Bad image data."


def test_a_truncated_photo_is_bad_image_data(client: vision_v1.ImageAnnotatorClient) -> None:
    data = photo("dog.jpg").read()
    response = annotate(client, vision_v1.Image(content=data[: len(data) // 3]), LABELS)
    assert response.error.code == 3


def test_the_function_reads_bad_image_data_as_not_an_image(
    client: vision_v1.ImageAnnotatorClient, settings: Settings, bucket: object
) -> None:
    bucket.blob("errors/text.jpg").upload_from_string(b"plain text")  # type: ignore[attr-defined]
    with pytest.raises(ImageFailed) as failure:
        VisionLabeler(client, settings).annotate(f"gs://{BUCKET}/errors/text.jpg")
    assert failure.value.code == "NOT_AN_IMAGE"
    assert failure.value.vision_code == 3


def test_an_image_over_20_mb_is_refused_with_code_3(
    client: vision_v1.ImageAnnotatorClient, bucket: object
) -> None:
    # A valid photo followed by padding: only the size is wrong.
    oversized = photo("dog.jpg").read().ljust(TWENTY_MB + 1, b"\x00")
    bucket.blob("errors/huge.jpg").upload_from_string(oversized)  # type: ignore[attr-defined]
    by_uri = annotate(client, gcs_image(f"gs://{BUCKET}/errors/huge.jpg"), LABELS)
    by_content = annotate(client, vision_v1.Image(content=oversized), LABELS)
    for response in (by_uri, by_content):
        assert response.error.code == 3
        assert "exceeds the limit" in response.error.message


def test_an_image_of_exactly_20_mb_is_labeled(client: vision_v1.ImageAnnotatorClient) -> None:
    at_limit = photo("dog.jpg").read().ljust(TWENTY_MB, b"\x00")
    response = annotate(client, vision_v1.Image(content=at_limit), LABELS)
    assert response.error.code == 0
    assert "Bicycle" in {label.description for label in response.label_annotations}


def test_one_bad_image_does_not_spoil_the_rest_of_the_batch(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    features = [vision_v1.Feature(type_=vision_v1.Feature.Type.LABEL_DETECTION)]
    requests = [
        vision_v1.AnnotateImageRequest(image=gcs_image(uri), features=features)
        for uri in (
            photo("bicycle.png").uri,
            f"gs://{BUCKET}/photos/never-uploaded.jpg",
            photo("house.png").uri,
        )
    ]
    batch = client.batch_annotate_images(requests=requests, timeout=30)
    codes = [response.error.code for response in batch.responses]
    assert codes == [0, 7, 0]
    assert batch.responses[0].label_annotations[0].description == "Bicycle"


def test_a_feature_the_model_cannot_answer_is_left_out_never_invented_nor_failing_the_image(
    client: vision_v1.ImageAnnotatorClient, emulator: VisionEmulator
) -> None:
    response = annotate(
        client,
        gcs_image(photo("person.jpg").uri),
        LABELS,
        (vision_v1.Feature.Type.FACE_DETECTION, 0),
    )
    assert response.error.code == 0, response.error.message
    assert [label.description for label in response.label_annotations][:2] == ["Dog", "Person"]
    assert not response.face_annotations
    again = annotate(
        client, gcs_image(photo("dog.jpg").uri), LABELS, (vision_v1.Feature.Type.FACE_DETECTION, 0)
    )
    assert again.error.code == 0
    logged = [line for line in emulator.output().splitlines() if "FACE_DETECTION" in line]
    assert len(logged) == 1, "said once, not per request"
    assert json.loads(logged[0])["severity"] == "WARNING"


def test_annotate_image_without_features_asks_for_all_and_gets_what_the_emulator_answers(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    """The client's helper fills in every feature type (FACE_DETECTION, TEXT_DETECTION, ...)."""
    response = client.annotate_image({"image": gcs_image(photo("bicycle.png").uri)}, timeout=30)
    assert response.error.code == 0, response.error.message
    assert response.label_annotations[0].description == "Bicycle"
    assert response.localized_object_annotations[0].name == "Bicycle"
    assert response.safe_search_annotation.adult == vision_v1.Likelihood.UNKNOWN
    assert not response.face_annotations
    assert not response.text_annotations


def test_a_request_without_features_is_code_3(client: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(client, gcs_image(photo("dog.jpg").uri))
    assert response.error.code == 3


def test_an_image_without_content_or_source_is_code_3(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    response = annotate(client, vision_v1.Image(), LABELS)
    assert response.error.code == 3
    assert response.error.message == "No image present."


def test_a_web_url_is_not_fetched_offline(client: vision_v1.ImageAnnotatorClient) -> None:
    image = vision_v1.Image(source=vision_v1.ImageSource(image_uri="https://example.com/bike.jpg"))
    response = annotate(client, image, LABELS)
    assert response.error.code == 12
    assert "gs://" in response.error.message


def test_an_image_uri_with_gs_is_read_like_gcs_image_uri(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    image = vision_v1.Image(source=vision_v1.ImageSource(image_uri=photo("bicycle.png").uri))
    response = annotate(client, image, LABELS)
    assert response.label_annotations[0].description == "Bicycle"


def test_more_than_16_images_in_one_request_is_refused_as_vision_does(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    features = [vision_v1.Feature(type_=vision_v1.Feature.Type.LABEL_DETECTION)]
    requests = [
        vision_v1.AnnotateImageRequest(image=gcs_image(photo("house.png").uri), features=features)
    ] * 17
    with pytest.raises(api_exceptions.InvalidArgument):
        client.batch_annotate_images(requests=requests, timeout=30, retry=None)


def test_object_names_are_escaped_when_read_from_storage(
    client: vision_v1.ImageAnnotatorClient, bucket: object
) -> None:
    name = "uploads/user 42/bike #1 ü+ok.png"
    bucket.blob(name).upload_from_string(photo("bicycle.png").read())  # type: ignore[attr-defined]
    response = annotate(client, gcs_image(f"gs://{BUCKET}/{name}"), LABELS)
    assert response.error.code == 0, response.error.message
    assert response.label_annotations[0].description == "Bicycle"


def test_an_unreachable_storage_emulator_is_unavailable_not_the_images_fault() -> None:
    with VisionEmulator(f"http://127.0.0.1:{free_port()}") as emulator:
        client = build_vision_client(
            Settings(
                project_id="p", topic_id="t", bucket_name="b", vision_emulator_host=emulator.host
            )
        )
        response = annotate(client, gcs_image(photo("dog.jpg").uri), LABELS)
        assert response.error.code == 14
        assert "unreachable" in response.error.message
        with_content = annotate(client, vision_v1.Image(content=photo("dog.jpg").read()), LABELS)
        assert with_content.error.code == 0


def test_without_a_storage_emulator_gs_objects_cannot_be_opened_and_say_why() -> None:
    with VisionEmulator(None) as emulator:
        client = build_vision_client(
            Settings(
                project_id="p", topic_id="t", bucket_name="b", vision_emulator_host=emulator.host
            )
        )
        response = annotate(client, gcs_image(photo("dog.jpg").uri), LABELS)
    assert response.error.code == 7
    assert "STORAGE_EMULATOR_HOST" in response.error.message


def test_a_decompression_bomb_is_bad_image_data_not_a_crash(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")  # 400 M pixels in a few kB
    assert len(buffer.getvalue()) < 1_000_000
    response = annotate(client, vision_v1.Image(content=buffer.getvalue()), LABELS)
    assert response.error.code == 3
    after = annotate(client, vision_v1.Image(content=photo("bicycle.png").read()), LABELS)
    assert after.label_annotations[0].description == "Bicycle"  # the emulator still serves
