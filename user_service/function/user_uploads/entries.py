"""The uploads collection in Firestore (native mode): one document per upload, its id the upload id.

    pending --(check failed, or expired)--------------------> failed   (object deleted)
    pending --(claimed, announced, result)--> accepted | review | blocked (object deleted) | failed

Every change that depends on what is stored is conditional on what was read: results are applied in
a transaction (read, decide, write; Firestore retries it on contention), so duplicates, redeliveries
and results out of order end the same way whatever their order (see `decide`); the announcement is
claimed by one request only (an update preconditioned on the document's update time), so one upload
is announced once however many "done" requests race. "delayed" and "expired" are never stored: they
are how a pending entry reads once its verdict or its upload is overdue (docs/user-service.md).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions
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
UNANNOUNCED = "unannounced"  # an upload that was never announced cannot have a result
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
# How many of an owner's entries a listing reads at most (the screen shows the newest of them).
MAX_LISTED_SCAN = 200
# Results for one entry that arrive together contend for it: Firestore retries a contended transaction
# 5 times by default, and a burst of 12 mixed results exhausted that (final issue 18 review).
TRANSACTION_ATTEMPTS = 20
# google-cloud-firestore raises ValueError with this text once the attempts are spent
# (firestore_v1/base_transaction.py, _EXCEED_ATTEMPTS_TEMPLATE).
_ATTEMPTS_SPENT = "Failed to commit transaction"


class Contended(Exception):
    """The entry stayed contended through every attempt: a transient fault (Pub/Sub redelivers)."""


def _committed(transactional: Any, client: firestore.Client) -> Any:
    """`transactional` run in a new transaction, its exhausted retries as Contended."""
    try:
        return transactional(client.transaction(max_attempts=TRANSACTION_ATTEMPTS))
    except ValueError as error:
        if str(error).startswith(_ATTEMPTS_SPENT):
            raise Contended(str(error)) from error
        raise


@dataclass(frozen=True)
class Applied:
    outcome: str
    entry: Mapping[str, Any] | None


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def decide(entry: Mapping[str, Any], result: Result, received: datetime.datetime) -> str:
    """What a result received at `received` does to an entry; APPLIED when it should be written.
    Pure. The end state is the highest-ranked result's whatever the order (results.PRECEDENCE)."""
    if entry.get("announced_at") is None and entry.get("announcing_since") is None:
        return UNANNOUNCED
    if result.path != entry["object_name"]:
        return FOREIGN_PATH
    held = entry.get("result")
    if held and (entry["state"], held.get("processed_at")) == (result.state, result.processed_at):
        return DUPLICATE
    if entry["state"] == BLOCKED or entry.get("refused"):
        return FINAL
    ranked = rank_of(entry)
    if ranked is not None and ranked >= result.rank(received):
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

    def claim_announcement(self, upload_id: str, lease: datetime.timedelta) -> bool:
        """Whether this request may announce the upload: it is pending, not announced, and nobody
        claimed it within `lease` (a claimer that crashed before its publish gave up). Exactly one of
        concurrent callers wins: the update is conditional on the update time of what was read
        (Firestore write preconditions), the others get FailedPrecondition."""
        ref = self._ref(upload_id)
        snapshot = ref.get(**BOUNDED)
        entry = snapshot.to_dict() if snapshot.exists else None
        if not entry or entry["state"] != PENDING or entry.get("announced_at") is not None:
            return False
        claimed = entry.get("announcing_since")
        if claimed is not None and now() - claimed < lease:
            return False
        option = self._client.write_option(last_update_time=snapshot.update_time)
        try:
            ref.update({"announcing_since": now(), "updated_at": now()}, option=option, **BOUNDED)
        except api_exceptions.FailedPrecondition:
            return False  # another request claimed it between our read and our write
        return True

    def release_announcement(self, upload_id: str) -> None:
        """The claimer's publish failed: the next "done" may announce it."""
        self._ref(upload_id).update(
            {"announcing_since": firestore.DELETE_FIELD, "updated_at": now()}, **BOUNDED
        )

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
            claimed = entry.get("announcing_since") is not None
            if entry["state"] != PENDING or entry.get("announced_at") is not None or claimed:
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

        refused: dict[str, Any] | None = _committed(refuse_in, self._client)
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
            received = now()
            outcome = decide(entry, result, received)
            if outcome == UNANNOUNCED:
                return Applied(outcome, None)  # nothing stored, nothing told
            if outcome != APPLIED:
                return Applied(outcome, entry)
            change = {
                **result.stored(received),
                "state": result.state,
                "completed_at": entry.get("completed_at") or now(),
                "updated_at": now(),
            }
            transaction.update(ref, change)
            return Applied(APPLIED, {**entry, **change})

        applied: Applied = _committed(apply_in, self._client)
        return applied

    def owned_by(self, owner: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The owner's newest `count` entries, newest first, among their first MAX_LISTED_SCAN.

        An equality filter alone is served by Firestore's automatic single-field index; ordering
        by created_at in the query would need a composite index (Firestore "Index types")."""
        query = (
            self._client.collection(self._collection)
            .where(filter=firestore.FieldFilter("owner", "==", owner))
            .limit(MAX_LISTED_SCAN)
        )
        found = [(item.id, item.to_dict() or {}) for item in query.stream(**BOUNDED)]
        found.sort(key=lambda pair: pair[1]["created_at"], reverse=True)
        return found[:count]

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
