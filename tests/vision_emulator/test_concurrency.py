"""Concurrent requests are answered correctly: the detector's interpreters are pooled, never shared
between threads, so answers under load are the same as one at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from google.cloud import vision_v1

from tests.vision_emulator.conftest import LABELS, OBJECTS, PHOTOS, annotate, gcs_image

ROUNDS = 3
CLIENT_THREADS = 12


def test_concurrent_requests_get_the_same_answers_as_sequential_ones(
    client: vision_v1.ImageAnnotatorClient,
) -> None:
    expected = {
        item.name: annotate(client, gcs_image(item.uri), LABELS, OBJECTS) for item in PHOTOS
    }
    work = [item for _ in range(ROUNDS) for item in PHOTOS]
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        answers = list(
            pool.map(
                lambda item: (item.name, annotate(client, gcs_image(item.uri), LABELS, OBJECTS)),
                work,
            )
        )
    assert len(answers) == ROUNDS * len(PHOTOS)
    for name, answer in answers:
        assert answer == expected[name], name
    assert any(answer.label_annotations for _, answer in answers)
