"""Real photos through the real Vision client to the emulator: a bicycle is found above the function's
default MIN_SCORE and matches its default TARGET_LABELS; photos without one never match."""

from __future__ import annotations

from dataclasses import replace

import pytest
from google.cloud import vision_v1

from labeling.config import DEFAULT_MIN_SCORE, DEFAULT_TARGET_LABELS, Feature, Settings
from labeling.verdict import decide
from labeling.vision import VisionLabeler, read_response
from tests.vision_emulator.conftest import (
    LABELS,
    OBJECTS,
    PHOTOS,
    Photo,
    annotate,
    gcs_image,
    photo,
)

BICYCLES = [item for item in PHOTOS if item.shows_bicycle]
OTHERS = [item for item in PHOTOS if not item.shows_bicycle]
BICYCLE_MID = "/m/0199g"


def test_the_defaults_are_what_these_tests_assume() -> None:
    assert DEFAULT_TARGET_LABELS == "Bicycle"
    assert DEFAULT_MIN_SCORE == 0.5


@pytest.mark.parametrize("bicycle", BICYCLES, ids=lambda item: item.name)
def test_a_bicycle_photo_matches_the_functions_default_verdict(
    client: vision_v1.ImageAnnotatorClient, settings: Settings, bicycle: Photo
) -> None:
    annotation = VisionLabeler(client, settings).annotate(bicycle.uri)
    match = decide(annotation, settings.target_labels, settings.min_score, False)
    assert match.matched, annotation
    assert match.label == "Bicycle"
    assert match.score is not None
    assert match.score >= DEFAULT_MIN_SCORE
    bicycle_label = next(label for label in annotation.labels if label.description == "Bicycle")
    assert bicycle_label.mid == BICYCLE_MID
    assert bicycle_label.topicality == bicycle_label.score


@pytest.mark.parametrize("other", OTHERS, ids=lambda item: item.name)
def test_a_photo_without_a_bicycle_does_not_match(
    client: vision_v1.ImageAnnotatorClient, settings: Settings, other: Photo
) -> None:
    annotation = VisionLabeler(client, settings).annotate(other.uri)
    match = decide(annotation, settings.target_labels, settings.min_score, False)
    assert not match.matched, annotation
    assert "Bicycle" not in {label.description for label in annotation.labels}


def test_labels_are_best_first_with_knowledge_graph_mids_and_above_the_minimum(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    response = annotate(client, gcs_image(photo("dog.jpg").uri), LABELS)
    labels = [(item.description, item.mid) for item in response.label_annotations]
    assert labels == [("Dog", "/m/0bt9lr"), ("Bicycle", BICYCLE_MID), ("Car", "/m/0k4j")]
    scores = [item.score for item in response.label_annotations]
    assert scores == sorted(scores, reverse=True)
    assert all(score >= 0.5 for score in scores)


def test_content_bytes_get_the_same_answer_as_the_gs_object(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    dog = photo("dog.jpg")
    by_uri = annotate(client, gcs_image(dog.uri), LABELS, OBJECTS)
    by_content = annotate(client, vision_v1.Image(content=dog.read()), LABELS, OBJECTS)
    assert by_content == by_uri
    assert by_uri.label_annotations


def test_object_localization_gives_normalized_boxes_where_the_objects_are(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    response = annotate(client, gcs_image(photo("dog.jpg").uri), OBJECTS)
    assert not response.label_annotations  # only what was asked for
    boxes = {}
    for item in response.localized_object_annotations:
        vertices = [(vertex.x, vertex.y) for vertex in item.bounding_poly.normalized_vertices]
        assert len(vertices) == 4
        assert all(0.0 <= value <= 1.0 for vertex in vertices for value in vertex)
        (left, top), (right, _), (_, bottom), _ = vertices
        assert vertices == [(left, top), (right, top), (right, bottom), (left, bottom)]
        boxes[item.name] = (left, top, right, bottom)
        assert item.mid
    assert set(boxes) == {"Dog", "Bicycle", "Car"}
    # The photo: a dog sits bottom left, in front of a bicycle across the middle; a truck top right.
    left, top, right, bottom = range(4)
    assert boxes["Dog"][right] < 0.5
    assert boxes["Dog"][bottom] > 0.9
    assert boxes["Car"][left] > 0.5
    assert boxes["Car"][bottom] < 0.35
    bike = boxes["Bicycle"]
    assert bike[left] < 0.3
    assert bike[right] > 0.7
    assert bike[top] < 0.3
    assert bike[bottom] > 0.7


def test_objects_alone_match_the_verdict_too(
    client: vision_v1.ImageAnnotatorClient, settings: Settings
) -> None:
    objects_only = replace(settings, vision_features=(Feature.OBJECT_LOCALIZATION,))
    annotation = VisionLabeler(client, objects_only).annotate(photo("bicycle.png").uri)
    match = decide(annotation, objects_only.target_labels, objects_only.min_score, False)
    assert match.matched
    assert match.source == "object"
    assert annotation.labels == ()


@pytest.mark.parametrize(("limit", "expected"), [(1, 1), (2, 2), (0, 3), (50, 3)])
def test_max_results_limits_labels_and_objects(
    client: vision_v1.ImageAnnotatorClient, limit: int, expected: int
) -> None:
    response = annotate(
        client,
        gcs_image(photo("dog.jpg").uri),
        (vision_v1.Feature.Type.LABEL_DETECTION, limit),
        (vision_v1.Feature.Type.OBJECT_LOCALIZATION, limit),
    )
    assert len(response.label_annotations) == expected
    assert len(response.localized_object_annotations) == expected
    assert response.label_annotations[0].description == "Dog"  # the best ones are kept


def test_the_function_reads_the_emulators_answer(client: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(client, gcs_image(photo("bicycle.png").uri), LABELS)
    annotation = read_response(response, max_labels=10)
    assert [label.description for label in annotation.labels] == ["Bicycle"]
    assert annotation.labels[0].score > 0.8
