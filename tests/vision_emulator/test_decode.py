"""The decoding around the network, locked: anchors as MediaPipe's SsdAnchorsCalculator builds them from
object_detection_oid_v4_cpu.pbtxt, box decoding, scores, NMS, and golden answers on two real images
(a change to preprocessing, anchors or decoding moves these numbers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.vision_emulator.conftest import photo
from vision_emulator.classes import CLASSES, LABEL_MAP
from vision_emulator.images import decode
from vision_emulator.model import (
    ANCHORS,
    NUM_BOXES,
    Detector,
    decode_boxes,
    interpret,
    non_max_suppression,
    ssd_anchors,
)

# Feature maps of 19, 10, 5, 3, 2 and 1 cells a side (300 / stride, rounded up); 3 anchors per cell in
# the reduced lowest layer, 6 (5 aspect ratios and the interpolated scale) in the others.
LAYER_SIZES = (19 * 19 * 3, 10 * 10 * 6, 5 * 5 * 6, 3 * 3 * 6, 2 * 2 * 6, 1 * 1 * 6)
BICYCLE = next(item.index - 1 for item in CLASSES if item.name == "Bicycle")


def test_there_are_1917_anchors_in_six_layers() -> None:
    assert sum(LAYER_SIZES) == NUM_BOXES == len(ANCHORS)
    np.testing.assert_array_equal(ssd_anchors(), ANCHORS)


def test_the_lowest_layer_has_the_three_reduced_anchors() -> None:
    center = 0.5 / 19
    expected = [
        (center, center, 0.1, 0.1),
        (center, center, 0.2 / math.sqrt(2), 0.2 * math.sqrt(2)),
        (center, center, 0.2 * math.sqrt(2), 0.2 / math.sqrt(2)),
    ]
    np.testing.assert_allclose(ANCHORS[:3], expected, rtol=1e-6)


def test_the_top_layer_has_scale_0_95_five_ratios_and_the_interpolated_anchor() -> None:
    top = ANCHORS[-6:]
    np.testing.assert_allclose(top[:, :2], 0.5)
    heights_widths = [
        (0.95 / math.sqrt(ratio), 0.95 * math.sqrt(ratio)) for ratio in (1, 2, 0.5, 3, 0.3333)
    ]
    interpolated = math.sqrt(0.95 * 1.0)
    np.testing.assert_allclose(
        top[:, 2:], [*heights_widths, (interpolated, interpolated)], rtol=1e-5
    )


def test_the_second_layer_starts_at_scale_0_35() -> None:
    first = ANCHORS[LAYER_SIZES[0]]
    np.testing.assert_allclose(first, (0.05, 0.05, 0.35, 0.35), rtol=1e-6)


def test_zero_encodings_decode_to_the_anchor_boxes() -> None:
    boxes = decode_boxes(np.zeros((NUM_BOXES, 4), dtype=np.float32))
    y, x, h, w = (ANCHORS[:, column] for column in range(4))
    np.testing.assert_allclose(
        boxes, np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=1), atol=1e-6
    )


def test_encodings_shift_by_a_tenth_and_scale_exponentially_by_a_fifth() -> None:
    anchor = ANCHORS[-6:-5]  # (0.5, 0.5, 0.95, 0.95)
    encoding = np.array([[10.0, -10.0, 5 * math.log(0.5), 0.0]], dtype=np.float32)
    ((y_min, x_min, y_max, x_max),) = decode_boxes(encoding, anchor)
    # The center moves by one anchor height down and one anchor width left; the height halves.
    assert (y_min + y_max) / 2 == pytest.approx(0.5 + 0.95, abs=1e-5)
    assert (x_min + x_max) / 2 == pytest.approx(0.5 - 0.95, abs=1e-5)
    assert y_max - y_min == pytest.approx(0.95 / 2, abs=1e-5)
    assert x_max - x_min == pytest.approx(0.95, abs=1e-5)


def test_scores_are_sigmoids_and_the_background_column_is_never_a_class() -> None:
    logits = np.full((NUM_BOXES, len(LABEL_MAP)), -20.0, dtype=np.float32)
    logits[:, 0] = 20.0  # the background is certain everywhere
    logits[100, 1 + BICYCLE] = 1.0
    result = interpret(np.zeros((NUM_BOXES, 4), dtype=np.float32), logits)
    assert result.class_scores[BICYCLE] == pytest.approx(1 / (1 + math.exp(-1.0)), abs=1e-6)
    assert [item.detector_class.name for item in result.objects] == ["Bicycle"]
    assert result.objects[0].score == pytest.approx(0.7311, abs=1e-4)
    assert max(score for index, score in enumerate(result.class_scores) if index != BICYCLE) < 1e-8


def test_overlapping_boxes_of_one_class_are_suppressed_others_kept() -> None:
    boxes = np.array(
        [[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9]], dtype=np.float32
    )
    scores = np.array([0.7, 0.9, 0.6], dtype=np.float32)
    assert non_max_suppression(boxes, scores) == [1, 2]


def test_objects_below_the_minimum_score_are_dropped() -> None:
    logits = np.full((NUM_BOXES, len(LABEL_MAP)), -20.0, dtype=np.float32)
    logits[5, 1 + BICYCLE] = -0.1  # sigmoid 0.475
    result = interpret(np.zeros((NUM_BOXES, 4), dtype=np.float32), logits, min_score=0.5)
    assert result.objects == ()
    assert result.class_scores[BICYCLE] == pytest.approx(0.475, abs=1e-3)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(parallelism=1)


GOLDEN = {
    "bicycle.png": {"Bicycle": (0.83298, (0.0703, 0.1754, 0.9357, 0.9712))},
    "dog.jpg": {
        "Dog": (0.73649, (0.1588, 0.3745, 0.4228, 0.9582)),
        "Bicycle": (0.66965, (0.1738, 0.2142, 0.7384, 0.8259)),
        "Car": (0.66446, (0.6002, 0.1423, 0.9087, 0.2955)),
    },
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_detections_on_real_images(detector: Detector, name: str) -> None:
    result = detector.detect(decode(photo(name).read()))
    found = {
        item.detector_class.name: (
            item.score,
            (item.box.x_min, item.box.y_min, item.box.x_max, item.box.y_max),
        )
        for item in result.objects
    }
    assert set(found) == set(GOLDEN[name])
    for label, (score, box) in GOLDEN[name].items():
        assert found[label][0] == pytest.approx(score, abs=0.005), label
        assert found[label][1] == pytest.approx(box, abs=0.01), label
