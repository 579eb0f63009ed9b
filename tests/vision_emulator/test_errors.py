"""What Vision refuses, the emulator refuses the same way: a per-image error inside a successful
response (the batch's other images are still answered), with Vision's code, which the function maps to
its own outcome (labeling.vision.IMAGE_FAILURES)."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
from vision_emulator.images import ImageError, check_pixels, decode

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


def bomb(image_format: str, width: int, height: int) -> bytes:
    """A valid file of a few hundred kB that declares `width` x `height` pixels (a decompression bomb).

    The PNG is 1-bit, all zeros, compressed row by row (never held decoded here); the GIF declares
    its screen that size around a single pixel.
    """
    if image_format == "GIF":
        one_pixel = io.BytesIO()
        Image.new("P", (1, 1)).save(one_pixel, format="GIF")
        data = bytearray(one_pixel.getvalue())
        data[6:10] = struct.pack("<HH", width, height)  # the logical screen
        return bytes(data)
    return blank_png(width, height, bit_depth=1, color_type=0, row_bytes=(width + 7) // 8)


def blank_png(width: int, height: int, bit_depth: int, color_type: int, row_bytes: int) -> bytes:
    """An all-zero PNG of `width` x `height`, compressed row by row (never held decoded here)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + row_bytes)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.parametrize("image_format", ["PNG", "GIF"])
def test_decompression_bombs_are_refused_from_their_header_fast_and_in_flat_memory(
    client: vision_v1.ImageAnnotatorClient, emulator: VisionEmulator, image_format: str
) -> None:
    """Issue 17 (finding 10) and issue 16: 30000 x 30000 = 900 M pixels would take 0.9 to 2.7 GB
    decoded; eight at once are refused by what they declare, saying it, and memory stays flat."""
    data = bomb(image_format, 30_000, 30_000)
    assert len(data) < 500_000
    assert emulator.process is not None
    pid = emulator.process.pid
    annotate(client, vision_v1.Image(content=photo("bicycle.png").read()), LABELS)  # warmed up
    rss_before, peak_before = memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM")

    def send() -> tuple[float, vision_v1.AnnotateImageResponse]:
        started = time.perf_counter()
        response = annotate(client, vision_v1.Image(content=data), LABELS)
        return time.perf_counter() - started, response

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: send(), range(8)))
    for seconds, response in answers:
        assert response.error.code == 3
        assert response.error.message.startswith(
            "Image is 30000 x 30000 = 900.0 megapixels, above the emulator's limit of 75 megapixels"
        ), response.error.message
        assert seconds < 5.0
    assert memory_kib(pid, "VmHWM") - peak_before < 50 * 1024
    assert memory_kib(pid, "VmRSS") - rss_before < 50 * 1024
    after = annotate(client, vision_v1.Image(content=photo("bicycle.png").read()), LABELS)
    assert after.label_annotations[0].description == "Bicycle"  # the emulator still serves


def test_an_image_just_under_the_pixel_limit_costs_one_decoded_copy_and_is_given_back(
    client: vision_v1.ImageAnnotatorClient, emulator: VisionEmulator
) -> None:
    """Issue 17 second review: a 74.99 M pixel RGBA PNG (285 kB) took 860 MiB (the decoded image, an
    upright copy, an RGB copy), and six left the emulator holding 1.9 GiB. Shrunk before any copy, one
    costs its 300 MB of pixels and working copies (measured 456 MiB), and the memory is given back."""
    data = blank_png(8660, 8660, bit_depth=8, color_type=6, row_bytes=4 * 8660)  # RGBA
    assert emulator.process is not None
    pid = emulator.process.pid
    annotate(client, vision_v1.Image(content=photo("bicycle.png").read()), LABELS)  # warmed up
    rss_before = memory_kib(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS: this test's peak alone

    for _ in range(2):
        response = annotate(client, vision_v1.Image(content=data), LABELS)
        assert response.error.code == 0, response.error.message  # labeled: under Vision's limit

    grown_mib = (memory_kib(pid, "VmHWM") - rss_before) / 1024
    assert grown_mib < 520, f"decoding grew the emulator by {grown_mib:.0f} MiB at its peak"
    kept_mib = (memory_kib(pid, "VmRSS") - rss_before) / 1024
    assert kept_mib < 64, f"the emulator kept {kept_mib:.0f} MiB after answering"


def test_the_pixel_limit_is_vision_s_75_megapixels_checked_before_decoding() -> None:
    check_pixels((10_000, 7_500))  # 75 M pixels: Vision's recommended maximum, still decoded
    with pytest.raises(ImageError) as refused:
        check_pixels((10_000, 7_501))
    assert refused.value.code == 3
    assert "10000 x 7501 = 75.0 megapixels" in refused.value.message


def test_an_icon_whose_frame_is_larger_than_its_directory_says_is_refused_before_decoding() -> None:
    """Pillow decodes an ICO as it opens it: the frame's own header (here a PNG) is checked first."""
    frame = bomb("PNG", 12_000, 12_000)  # 144 M pixels, below Pillow's own 179 M error
    directory = struct.pack("<HHH", 0, 1, 1) + struct.pack(
        "<BBBBHHII", 0, 0, 0, 0, 1, 32, len(frame), 22
    )
    with pytest.raises(ImageError) as refused:
        decode(directory + frame)
    assert "12000 x 12000 = 144.0 megapixels" in refused.value.message
