"""SAFE_SEARCH_DETECTION is answered, and honestly: the model cannot rate safety, so every likelihood is
UNKNOWN, which the function reads as "not unsafe" (a requested but unrated image still matches)."""

from __future__ import annotations

from dataclasses import replace

from google.cloud import vision_v1

from labeling.config import Feature, Settings
from labeling.verdict import decide
from labeling.vision import SAFE_SEARCH_CATEGORIES, VisionLabeler
from tests.vision_emulator.conftest import LABELS, SAFE_SEARCH, annotate, gcs_image, photo


def test_every_safe_search_likelihood_is_unknown(client: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(client, gcs_image(photo("person.jpg").uri), SAFE_SEARCH)
    assert vision_v1.AnnotateImageResponse.pb(response).HasField("safe_search_annotation")
    for category in SAFE_SEARCH_CATEGORIES:
        assert getattr(response.safe_search_annotation, category) == vision_v1.Likelihood.UNKNOWN
    assert not response.label_annotations


def test_safe_search_is_absent_unless_requested(client: vision_v1.ImageAnnotatorClient) -> None:
    response = annotate(client, gcs_image(photo("person.jpg").uri), LABELS)
    assert not vision_v1.AnnotateImageResponse.pb(response).HasField("safe_search_annotation")


def test_the_function_still_matches_a_bicycle_with_safe_search_requested(
    client: vision_v1.ImageAnnotatorClient, settings: Settings
) -> None:
    with_safe_search = replace(
        settings, vision_features=(Feature.LABEL_DETECTION, Feature.SAFE_SEARCH_DETECTION)
    )
    annotation = VisionLabeler(client, with_safe_search).annotate(photo("dog.jpg").uri)
    assert annotation.safe_search is not None
    assert set(annotation.safe_search.likelihoods.values()) == {"UNKNOWN"}
    assert not annotation.safe_search.unsafe
    assert decide(annotation, ("Bicycle",), 0.5, safe_search_requested=True).matched
