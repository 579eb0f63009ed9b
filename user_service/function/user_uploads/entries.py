"""The uploads collection in Firestore (native mode): one document per upload, its id the upload id.

    pending --(check failed)--------------------------------> failed   (object deleted)
    pending --(announced, result)--> accepted | review | blocked (object deleted) | failed

Every change that depends on what is stored runs in a transaction (read, decide, write; Firestore
retries it on contention), so duplicates, redeliveries and results out of order end the same way
whatever their order: see `decide`. "delayed" is never stored: it is how a pending entry reads once
its verdict is overdue (docs/user-service.md), so a result that comes later still completes it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import retry as api_retry
from google.cloud import firestore

from user_uploads.results import Result, rank_of

PENDING = "pending"
DELAYED = "delayed"  # read-side only
ACCEPTED = "accepted"
BLOCKED = "blocked"
REVIEW = "review"
FAILED = "failed"
# Whose image is deleted once they are reached: a blocked image is never served, and an object
# that failed the upload check is not an image at all.
DELETES_IMAGE = frozenset({BLOCKED})

# Outcomes of applying a result (logged, and returned to the push request).
APPLIED = "applied"
DUPLICATE = "duplicate"  # the same result again (a redelivery, or the AI-Service's at-least-once)
STALE = "stale"  # outranked by the result the entry holds
FINAL = "final"  # the entry's state can no longer change (blocked, or refused at upload)
UNKNOWN = "unknown"  # no such upload
FOREIGN_PATH = "foreign_path"  # the result names another object than the entry's


# Each call retries transient errors for a few seconds only (the library's own default retries for up
# to a minute): an outage of Firestore becomes a quick 503 (the screen polls again, Pub/Sub redelivers)
# instead of requests that hang.
CALL_TIMEOUT_SECONDS = 5.0
RETRY = api_retry.Retry(
    predicate=api_retry.if_transient_error,
    initial=0.1,
    maximum=1.0,
    multiplier=2.0,
    timeout=CALL_TIMEOUT_SECONDS,
)
BOUNDED: dict[str, Any] = {"retry": RETRY, "timeout": CALL_TIMEOUT_SECONDS}


@dataclass(frozen=True)
class Applied:
    outcome: str
    entry: Mapping[str, Any] | None


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def decide(entry: Mapping[str, Any], result: Result) -> str:
    """What a result does to an entry; APPLIED when it should be written. Pure."""
    if result.path != entry["object_name"]:
        return FOREIGN_PATH
    held = rank_of(entry.get("result"))
    if held == result.rank:
        return DUPLICATE
    if entry["state"] == BLOCKED or entry.get("refused"):
        return FINAL
    if held is not None and held > result.rank:
        return STALE
    return APPLIED


def needs_deletion(entry: Mapping[str, Any]) -> bool:
    """Whether the entry's image must be (still) deleted from the bucket."""
    deletes = entry["state"] in DELETES_IMAGE or bool(entry.get("refused"))
    return deletes and entry.get("image_deleted_at") is None


class Entries:
    """The collection; `client` is a google.cloud.firestore.Client (thread-safe, one per instance)."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def _ref(self, upload_id: str) -> firestore.DocumentReference:
        return self._client.collection(self._collection).document(upload_id)

    def create(self, upload_id: str, fields: Mapping[str, Any]) -> None:
        """Creates the entry; Conflict if the id exists (ids are random: never in practice)."""
        self._ref(upload_id).create(dict(fields), **BOUNDED)

    def get(self, upload_id: str) -> dict[str, Any] | None:
        snapshot = self._ref(upload_id).get(**BOUNDED)
        return snapshot.to_dict() if snapshot.exists else None

    def mark_announced(self, upload_id: str, message_id: str, size: int, detected: str) -> None:
        """The object passed the check and its announcement was published."""
        self._ref(upload_id).update(
            {
                "announced_at": now(),
                "announcement_id": message_id,
                "size": size,
                "detected_type": detected,
                "updated_at": now(),
            },
            **BOUNDED,
        )

    def refuse(self, upload_id: str, code: str, message: str) -> dict[str, Any] | None:
        """The object failed the upload check: failed, for good, unless it was announced already."""
        ref = self._ref(upload_id)
        if not self._reachable(ref):
            return None

        @firestore.transactional
        def refuse_in(transaction: firestore.Transaction) -> dict[str, Any] | None:
            snapshot = ref.get(transaction=transaction, **BOUNDED)
            if not snapshot.exists:
                return None
            entry: dict[str, Any] = snapshot.to_dict() or {}
            if entry["state"] != PENDING or entry.get("announced_at") is not None:
                return entry
            change = {
                "state": FAILED,
                "refused": True,
                "error": {"code": code, "message": message},
                "completed_at": now(),
                "updated_at": now(),
            }
            transaction.update(ref, change)
            return {**entry, **change}

        refused: dict[str, Any] | None = refuse_in(self._client.transaction())
        return refused

    def apply(self, upload_id: str, result: Result) -> Applied:
        """Applies a result for `upload_id` once, whatever the order and number of deliveries."""
        ref = self._ref(upload_id)
        if not self._reachable(ref):
            return Applied(UNKNOWN, None)

        @firestore.transactional
        def apply_in(transaction: firestore.Transaction) -> Applied:
            snapshot = ref.get(transaction=transaction, **BOUNDED)
            if not snapshot.exists:
                return Applied(UNKNOWN, None)
            entry: dict[str, Any] = snapshot.to_dict() or {}
            outcome = decide(entry, result)
            if outcome != APPLIED:
                return Applied(outcome, entry)
            change = {
                **result.stored(),
                "state": result.state,
                "completed_at": entry.get("completed_at") or now(),
                "updated_at": now(),
            }
            transaction.update(ref, change)
            return Applied(APPLIED, {**entry, **change})

        applied: Applied = apply_in(self._client.transaction())
        return applied

    @staticmethod
    def _reachable(ref: firestore.DocumentReference) -> bool:
        """Whether the document exists, read with the bounded retry before a transaction starts:
        a transaction's begin retries for a minute, and its rollback after a failed begin raises
        a ValueError that hides the outage."""
        return bool(ref.get(field_paths=["state"], **BOUNDED).exists)

    def mark_image_deleted(self, upload_id: str) -> None:
        self._ref(upload_id).update({"image_deleted_at": now(), "updated_at": now()}, **BOUNDED)


def valid_id(upload_id: str) -> bool:
    """Upload ids are 32 lowercase hex digits (uuid4().hex): nothing else names an entry."""
    return len(upload_id) == 32 and all(char in "0123456789abcdef" for char in upload_id)
