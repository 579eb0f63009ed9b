"""The result message the User-Service reads from ai-service-image-labeled (schema in contracts/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from labeling.errors import MessageId
from labeling.verdict import Match
from labeling.vision import Annotation, DetectedObject, Label

SCHEMA_VERSION = "1.0"
LABELED = "labeled"
FAILED = "failed"


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def labeled_result(
    *,
    image_id: MessageId,
    path: str,
    uri: str,
    annotation: Annotation,
    match: Match,
    source_message_id: str | None,
    processed_at: str,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": image_id,
        "path": path,
        "uri": uri,
        "status": LABELED,
        "labels": [_fields(label) for label in annotation.labels],
        "match": match.to_json(),
        **_decision(match),
        "source_message_id": source_message_id,
        "processed_at": processed_at,
    }
    if annotation.objects:
        result["objects"] = [_object_fields(item) for item in annotation.objects]
    if annotation.safe_search is not None:
        result["safe_search"] = {
            **annotation.safe_search.likelihoods,
            "unsafe": annotation.safe_search.unsafe,
        }
    return result


def _decision(match: Match) -> dict[str, str]:
    """`decision` only with a review band (REVIEW_MIN_SCORE): without one the result is unchanged."""
    return {} if match.decision is None else {"decision": match.decision}


def _fields(item: Label) -> dict[str, Any]:
    """The same dict as dataclasses.asdict for this flat dataclass (str and float fields, in
    definition order), without asdict's recursive deep copy: about 1 µs against 5 µs per label."""
    return dict(vars(item))


def _object_fields(item: DetectedObject) -> dict[str, Any]:
    """name, score, mid, and the box where Vision gave one (an additive field of 1.0)."""
    fields: dict[str, Any] = {"name": item.name, "score": item.score, "mid": item.mid}
    if item.box is not None:
        fields["box"] = dict(vars(item.box))
    return fields


def failed_result(
    *,
    image_id: MessageId,
    path: str | None,
    uri: str | None,
    code: str,
    message: str,
    match: Match,
    source_message_id: str | None,
    processed_at: str,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "id": image_id,
        "path": path,
        "uri": uri,
        "status": FAILED,
        "labels": [],
        "match": match.to_json(),
        **_decision(match),
        "error": {"code": code, "message": message},
        "source_message_id": source_message_id,
        "processed_at": processed_at,
    }


def encode(result: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """Message data (UTF-8 JSON) and the attributes subscribers can filter on."""
    data = json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    attributes = {
        "id": str(result["id"]),
        "status": result["status"],
        "matched": "true" if result["match"]["matched"] else "false",
    }
    if "decision" in result:  # so a subscription filter can route reviews
        attributes["decision"] = result["decision"]
    return data, attributes
