"""The verdict: does the image show one of the target labels, confidently enough, and is it safe?"""

from __future__ import annotations

from dataclasses import dataclass

from labeling.vision import Annotation


@dataclass(frozen=True)
class Match:
    matched: bool
    targets: tuple[str, ...]
    threshold: float
    label: str | None = None
    score: float | None = None
    source: str | None = None  # "label" or "object": which Vision feature found it
    reason: str | None = None  # why nothing matched, when something would have but for safety

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
        return result


def no_match(targets: tuple[str, ...], threshold: float) -> Match:
    return Match(matched=False, targets=targets, threshold=threshold)


def decide(
    annotation: Annotation, targets: tuple[str, ...], threshold: float, safe_search_requested: bool
) -> Match:
    """Match the best-scoring label or object whose name is a target (case-insensitively).

    When Safe Search was requested, an image it rates unsafe never matches.
    """
    wanted = {target.casefold() for target in targets}
    candidates = [(label.score, label.description, "label") for label in annotation.labels] + [
        (item.score, item.name, "object") for item in annotation.objects
    ]
    hits = [
        candidate
        for candidate in candidates
        if candidate[1].casefold() in wanted and candidate[0] >= threshold
    ]
    if not hits:
        return no_match(targets, threshold)
    safety = annotation.safe_search
    if safe_search_requested and safety is not None and safety.unsafe:
        return Match(matched=False, targets=targets, threshold=threshold, reason="UNSAFE_CONTENT")
    score, name, source = max(hits, key=lambda hit: hit[0])
    return Match(
        matched=True, targets=targets, threshold=threshold, label=name, score=score, source=source
    )
