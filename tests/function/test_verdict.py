"""The verdict on its own: which label matches, at which threshold, and what Safe Search vetoes."""

from __future__ import annotations

import pytest
from google.cloud import vision_v1

from labeling.verdict import UNSAFE_LIKELIHOODS, decide, is_unsafe
from labeling.vision import Annotation, DetectedObject, Label, SafeSearch

BIKE = Label(description="Bicycle", score=0.9, mid="/m/0199g", topicality=0.9)
SAFE = SafeSearch(likelihoods={"adult": "VERY_UNLIKELY"})
UNSAFE = SafeSearch(likelihoods={"adult": "VERY_LIKELY"})


def test_the_best_scoring_target_wins_across_labels_and_objects() -> None:
    annotation = Annotation(
        labels=(BIKE,), objects=(DetectedObject(name="bicycle", score=0.95, mid="/m/obj"),)
    )

    match = decide(annotation, ("Bicycle",), 0.5, safe_search_requested=False)

    assert (match.matched, match.label, match.score, match.source) == (
        True,
        "bicycle",
        0.95,
        "object",
    )


def test_nothing_matches_below_the_threshold_or_without_a_target() -> None:
    assert not decide(Annotation(labels=(BIKE,)), ("Bicycle",), 0.91, False).matched
    assert not decide(Annotation(labels=(BIKE,)), ("Tricycle",), 0.1, False).matched
    assert not decide(Annotation(labels=()), ("Bicycle",), 0.0, False).matched


def test_a_threshold_of_zero_or_one_is_inclusive() -> None:
    perfect = Label(description="Bicycle", score=1.0, mid="", topicality=1.0)

    assert decide(Annotation(labels=(BIKE,)), ("Bicycle",), 0.0, False).matched
    assert decide(Annotation(labels=(perfect,)), ("Bicycle",), 1.0, False).matched


def test_safe_search_vetoes_unsafe_images_only_when_it_was_requested() -> None:
    unsafe = Annotation(labels=(BIKE,), safe_search=UNSAFE)

    vetoed = decide(unsafe, ("Bicycle",), 0.5, safe_search_requested=True)

    assert (vetoed.matched, vetoed.reason, vetoed.label) == (False, "UNSAFE_CONTENT", None)
    assert decide(Annotation(labels=(BIKE,), safe_search=SAFE), ("Bicycle",), 0.5, True).matched


@pytest.mark.parametrize(
    ("likelihoods", "unsafe"),
    [
        ({"adult": "LIKELY"}, True),
        ({"violence": "VERY_LIKELY"}, True),
        ({"adult": "VERY_UNLIKELY", "racy": "LIKELY"}, True),
        ({"adult": "POSSIBLE", "violence": "POSSIBLE", "racy": "POSSIBLE"}, False),
        ({"spoof": "VERY_LIKELY", "medical": "VERY_LIKELY"}, False),
        ({"adult": "UNKNOWN", "violence": "UNKNOWN", "racy": "UNKNOWN"}, False),
    ],
)
def test_unsafe_is_adult_violence_or_racy_rated_likely_or_above(
    likelihoods: dict[str, str], unsafe: bool
) -> None:
    annotation = Annotation(labels=(BIKE,), safe_search=SafeSearch(likelihoods))

    assert is_unsafe(likelihoods) is unsafe
    assert decide(annotation, ("Bicycle",), 0.5, True).matched is not unsafe
    # The rule names Vision's own Likelihood values, so a misspelt one could never match.
    assert set(vision_v1.Likelihood.__members__) >= UNSAFE_LIKELIHOODS


def test_a_missing_safe_search_answer_is_not_taken_for_unsafe_content() -> None:
    match = decide(Annotation(labels=(BIKE,), safe_search=None), ("Bicycle",), 0.5, True)

    assert match.matched
    assert match.reason is None


def test_the_review_band_decides_accept_review_or_reject_and_keeps_matched_meaning() -> None:
    def verdict(score: float) -> tuple[bool, str | None]:
        bike = Label(description="Bicycle", score=score, mid="", topicality=score)
        match = decide(Annotation(labels=(bike,)), ("Bicycle",), 0.8, False, review_threshold=0.5)
        return match.matched, match.decision

    assert verdict(0.95) == (True, "accept")
    assert verdict(0.8) == (True, "accept")
    assert verdict(0.79) == (False, "review")
    assert verdict(0.5) == (False, "review")
    assert verdict(0.49) == (False, "reject")


def test_without_a_band_there_is_no_decision_and_no_review() -> None:
    weak = Label(description="Bicycle", score=0.6, mid="", topicality=0.6)

    match = decide(Annotation(labels=(weak,)), ("Bicycle",), 0.8, False)

    assert (match.matched, match.decision, match.review_threshold) == (False, None, None)
    assert "review_threshold" not in match.to_json()


def test_unsafe_content_in_the_band_is_rejected_not_reviewed() -> None:
    weak = Label(description="Bicycle", score=0.6, mid="", topicality=0.6)

    match = decide(Annotation(labels=(weak,), safe_search=UNSAFE), ("Bicycle",), 0.8, True, 0.5)

    assert (match.matched, match.decision, match.reason) == (False, "reject", "UNSAFE_CONTENT")
