"""The verdict: does the image show one of the target labels, confidently enough, and is it safe?

With a review band (`review_threshold`, REVIEW_MIN_SCORE) the verdict also carries a decision: a
target at or above `threshold` is "accept", one in [review_threshold, threshold) is "review" (a person
looks at it), anything else "reject". Unsafe content and failures never accept. `matched` keeps its
meaning either way: a target at or above `threshold`, and safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # vision.py reads is_unsafe from here
    from labeling.vision import Annotation

ACCEPT = "accept"
REVIEW = "review"
REJECT = "reject"

# What Safe Search must say for an image to be unsafe: one of these categories rated LIKELY or above
# (spoof and medical never veto a bicycle photo).
UNSAFE_CATEGORIES = ("adult", "violence", "racy")
UNSAFE_LIKELIHOODS = frozenset({"LIKELY", "VERY_LIKELY"})


def is_unsafe(likelihoods: Mapping[str, str]) -> bool:
    """Whether Safe Search's likelihoods (category -> Likelihood name) make an image unsafe."""
    return any(likelihoods.get(category) in UNSAFE_LIKELIHOODS for category in UNSAFE_CATEGORIES)


@dataclass(frozen=True)
class Match:
    matched: bool
    targets: tuple[str, ...]
    threshold: float
    label: str | None = None
    score: float | None = None
    source: str | None = None  # "label" or "object": which Vision feature found it
    reason: str | None = None  # why nothing matched, when something would have but for safety
    review_threshold: float | None = None  # the review band's lower end; None: no band
    decision: str | None = None  # accept / review / reject; None without a review band

    def to_json(self) -> dict[str, object]:
        result: dict[str, object] = {
            "matched": self.matched,
            "targets": list(self.targets),
            "threshold": self.threshold,
            "label": self.label,
            "score": self.score,
            "source": self.source,
        }
        if self.reason:
            result["reason"] = self.reason
        if self.review_threshold is not None:
            result["review_threshold"] = self.review_threshold
        return result


def no_match(
    targets: tuple[str, ...], threshold: float, review_threshold: float | None = None
) -> Match:
    """The verdict of a failed image: never a match, rejected when there is a review band."""
    return Match(
        matched=False,
        targets=targets,
        threshold=threshold,
        review_threshold=review_threshold,
        decision=None if review_threshold is None else REJECT,
    )


def decide(
    annotation: Annotation,
    targets: tuple[str, ...],
    threshold: float,
    safe_search_requested: bool,
    review_threshold: float | None = None,
) -> Match:
    """Match the best-scoring label or object whose name is a target (case-insensitively).

    When Safe Search was requested, an image it rates unsafe never matches (nor goes to review).
    """
    wanted = {target.casefold() for target in targets}
    lowest = threshold if review_threshold is None else min(review_threshold, threshold)
    candidates = [(label.score, label.description, "label") for label in annotation.labels] + [
        (item.score, item.name, "object") for item in annotation.objects
    ]
    hits = [
        candidate
        for candidate in candidates
        if candidate[1].casefold() in wanted and candidate[0] >= lowest
    ]
    banded = review_threshold is not None
    rejected = no_match(targets, threshold, review_threshold)
    if not hits:
        return rejected
    safety = annotation.safe_search
    if safe_search_requested and safety is not None and safety.unsafe:
        return Match(
            matched=False,
            targets=targets,
            threshold=threshold,
            reason="UNSAFE_CONTENT",
            review_threshold=review_threshold,
            decision=REJECT if banded else None,
        )
    score, name, source = max(hits, key=lambda hit: hit[0])
    if score < threshold:  # only in the review band
        return Match(
            matched=False,
            targets=targets,
            threshold=threshold,
            review_threshold=review_threshold,
            decision=REVIEW,
        )
    return Match(
        matched=True,
        targets=targets,
        threshold=threshold,
        label=name,
        score=score,
        source=source,
        review_threshold=review_threshold,
        decision=ACCEPT if banded else None,
    )
