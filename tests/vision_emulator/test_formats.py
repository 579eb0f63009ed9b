"""The image formats Vision accepts are read (https://cloud.google.com/vision/docs/supported-files), in
any pixel mode, and a photo's EXIF orientation is applied before detection, so boxes are upright."""

from __future__ import annotations

import io

import pytest
from google.cloud import vision_v1
from PIL import Image

from tests.vision_emulator.conftest import LABELS, OBJECTS, annotate, photo

EXIF_ORIENTATION = 0x0112
ROTATED_90_CLOCKWISE = 6  # "the 0th row is the visual right-hand side": display needs 90° clockwise


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def bicycle_score(response: vision_v1.AnnotateImageResponse) -> float:
    assert response.error.code == 0, response.error.message
    return max(
        (item.score for item in response.label_annotations if item.description == "Bicycle"),
        default=0.0,
    )


@pytest.mark.parametrize(
    ("image_format", "mode"),
    [
        ("JPEG", "RGB"),
        ("JPEG", "L"),
        ("JPEG", "CMYK"),
        ("PNG", "RGBA"),
        ("PNG", "P"),
        ("PNG", "I;16"),
        ("GIF", "P"),
        ("BMP", "RGB"),
        ("WEBP", "RGB"),
        ("TIFF", "RGB"),
        ("ICO", "RGBA"),
    ],
)
def test_every_format_vision_accepts_is_read(
    client: vision_v1.ImageAnnotatorClient, image_format: str, mode: str
) -> None:
    original = Image.open(io.BytesIO(photo("dog.jpg").read())).convert("RGB")
    if image_format == "ICO":
        original = original.resize((256, 192))  # ICO holds at most 256 x 256
    data = encoded(original.convert(mode), image_format)
    response = annotate(client, vision_v1.Image(content=data), LABELS)
    # Lossy or reduced re-encodings move the score a little; the bicycle stays found.
    assert bicycle_score(response) >= 0.5, (image_format, mode, response.label_annotations)


def test_an_animated_gif_is_read_from_its_first_frame(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    bike = Image.open(io.BytesIO(photo("bicycle.png").read())).convert("RGB")
    house = Image.open(io.BytesIO(photo("house.png").read())).convert("RGB")
    first_bike = encoded(bike, "GIF", save_all=True, append_images=[house])
    first_house = encoded(house, "GIF", save_all=True, append_images=[bike])
    assert bicycle_score(annotate(client, vision_v1.Image(content=first_bike), LABELS)) >= 0.5
    assert bicycle_score(annotate(client, vision_v1.Image(content=first_house), LABELS)) < 0.5


def test_the_exif_orientation_is_applied_before_detection(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    upright = Image.open(io.BytesIO(photo("dog.jpg").read())).convert("RGB")
    # Stored sideways, tagged so that a viewer rotates it back upright, as phone cameras do.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CLOCKWISE
    tagged = encoded(stored, "JPEG", quality=95, exif=exif.tobytes())
    plain = encoded(upright, "JPEG", quality=95)

    def boxes(data: bytes) -> dict[str, tuple[float, float]]:
        response = annotate(client, vision_v1.Image(content=data), OBJECTS)
        return {
            item.name: (
                sum(vertex.x for vertex in item.bounding_poly.normalized_vertices) / 4,
                sum(vertex.y for vertex in item.bounding_poly.normalized_vertices) / 4,
            )
            for item in response.localized_object_annotations
        }

    expected = boxes(plain)
    found = boxes(tagged)
    assert {"Dog", "Bicycle"} <= set(expected)
    for name in ("Dog", "Bicycle"):
        assert found[name] == pytest.approx(expected[name], abs=0.03), name
