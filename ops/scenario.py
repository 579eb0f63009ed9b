"""The seed scenario, as the User-Service plays it: upload images, publish, pull the results, judge.

Shared by `make smoke` (ops/smoke.py, against a deployed stack) and `make local` (ops/local.py,
against the emulators on this machine), so both run the same steps: upload each image to the images
bucket, publish `{"id", "path"}` to the new-image topic, pull the User-Service results subscription
until every id has answered or the timeout passes, print a table and say whether the run passed.

Results of this run are acknowledged. Messages for other ids belong to someone else (the User-Service,
another run): they are never acknowledged, and their leases are released (ack deadline 0) when the run
ends, so their owner gets them back at once instead of after the ack deadline.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from google.api_core import exceptions as api_exceptions
from google.auth.exceptions import GoogleAuthError
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed

from ops.common import (
    FAIL,
    PASS,
    PULL_TRANSIENT,
    PULL_WAIT_SECONDS,
    USAGE_ERROR,
    UsageError,
    describe,
    release,
)

DEFAULT_MANIFEST = Path(__file__).resolve().parent / "samples" / "manifest.json"
# A cold start, a Vision call and a redelivery or two (the push retry backoff starts at 10 s).
DEFAULT_TIMEOUT_SECONDS = 180.0
PUBLISH_TIMEOUT_SECONDS = 30.0
LABELED, FAILED, NO_ANSWER = "labeled", "failed", "timeout"
TOP_LABELS = 3

# Setup problems before anything reached the pipeline: API errors (NotFound, Forbidden), no or
# expired credentials, a publish future that timed out, an unreachable endpoint (requests' errors
# are OSErrors).
SUBMIT_ERRORS = (api_exceptions.GoogleAPIError, GoogleAuthError, TimeoutError, OSError)


@dataclass(frozen=True)
class Target:
    project: str
    bucket: str
    topic_path: str
    subscription_path: str


@dataclass(frozen=True)
class SampleImage:
    file: Path
    expect_match: bool | None = None


@dataclass(frozen=True)
class Submission:
    image_id: str | int  # published as given: the contract takes an integer or a string
    image: SampleImage
    object_name: str

    @property
    def key(self) -> str:
        """How results are matched to it (result_id() reads every id as text)."""
        return str(self.image_id)


@dataclass(frozen=True)
class Outcome:
    submission: Submission
    status: str  # labeled, failed, timeout, or whatever unexpected status the result carried
    matched: bool | None = None
    labels: tuple[tuple[str, float], ...] = ()
    error: str = ""
    latency_seconds: float | None = None  # from publish to the result's arrival in the Pull

    @property
    def match_differs(self) -> bool:
        expected = self.submission.image.expect_match
        return self.status == LABELED and expected is not None and expected != self.matched


@dataclass
class Collected:
    """What the pull loop read: the first result per id of this run, and what it left alone."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    received_at: dict[str, float] = field(default_factory=dict)  # time.monotonic() per first result
    duplicates: int = 0
    foreign: int = 0
    transient_errors: int = 0


@dataclass(frozen=True)
class Clients:
    storage: StorageClient
    publisher: PublisherClient
    subscriber: SubscriberClient

    @classmethod
    def build(cls, project: str) -> Clients:
        """Application-default credentials, or the emulators named by the libraries' env vars."""
        return cls(StorageClient(project=project), PublisherClient(), SubscriberClient())


# -- inputs ------------------------------------------------------------------------------------


def load_manifest(path: Path) -> tuple[list[SampleImage], bool]:
    """Images (relative to the manifest) with their expected match, and whether to enforce it."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        entries = manifest["images"]
        images = [
            SampleImage(path.parent / entry["file"], entry.get("expect_match")) for entry in entries
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot read manifest {path}: {error!r}") from error
    if not images:
        raise UsageError(f"manifest {path} lists no images")
    return images, bool(manifest.get("enforce_match", False))


def check_images(images: Sequence[SampleImage]) -> None:
    for image in images:
        if not image.file.is_file():
            raise UsageError(f"image not found: {image.file}")
    names = [image.file.name for image in images]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        # Objects are named after the file name; two files with one name would overwrite each other.
        raise UsageError(f"two images share a file name: {', '.join(duplicated)}")


# -- the run -----------------------------------------------------------------------------------


# The formats Vision reads that a few leading bytes identify (the file's name may say otherwise:
# the seed uploads PNGs as image-01.jpg).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
)


def content_type(file: Path) -> str:
    """What the file really is (by its first bytes), else what its name suggests."""
    with open(file, "rb") as opened:
        head = opened.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return mimetypes.guess_type(file.name)[0] or "application/octet-stream"


def upload(client: StorageClient, bucket: str, submissions: Iterable[Submission]) -> None:
    # bucket() builds a reference without a GET: the smoke identity needs object rights only.
    images_bucket = client.bucket(bucket)
    for submission in submissions:
        images_bucket.blob(submission.object_name).upload_from_filename(
            str(submission.image.file), content_type=content_type(submission.image.file)
        )


def publish(
    publisher: PublisherClient,
    topic_path: str,
    submissions: Iterable[Submission],
    timeout: float = PUBLISH_TIMEOUT_SECONDS,
) -> dict[str, float]:
    """One message per image, exactly the User-Service's `{"id", "path"}`; every future is awaited.

    Returns when each was handed to the client (time.monotonic(), by submission key): where its
    end-to-end latency starts.
    """
    published_at = {}
    futures = []
    for submission in submissions:
        published_at[submission.key] = time.monotonic()
        futures.append(
            publisher.publish(
                topic_path,
                json.dumps({"id": submission.image_id, "path": submission.object_name}).encode(),
            )
        )
    for future in futures:
        future.result(timeout=timeout)
    return published_at


def result_id(data: bytes, attributes: Any) -> tuple[str | None, dict[str, Any]]:
    """The id a result answers (data first, the `id` attribute as fallback) and its decoded body."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("id") is not None:
        return str(body["id"]), body
    return attributes.get("id"), body if isinstance(body, dict) else {}


def collect(
    subscriber: SubscriberClient,
    subscription_path: str,
    expected_ids: Iterable[str],
    timeout: float,
    *,
    max_messages: int = 10,
    poll_interval: float = 1.0,
) -> Collected:
    """Synchronous Pull until every expected id answered or `timeout` seconds passed."""
    expected = set(expected_ids)
    collected = Collected()
    foreign_ack_ids: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while not expected <= collected.results.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                response = subscriber.pull(
                    request={"subscription": subscription_path, "max_messages": max_messages},
                    timeout=min(remaining, PULL_WAIT_SECONDS),
                    retry=None,
                )
            except PULL_TRANSIENT:
                collected.transient_errors += 1
                time.sleep(min(poll_interval, max(remaining, 0.0)))
                continue
            ours = []
            for received in response.received_messages:
                image_id, body = result_id(received.message.data, received.message.attributes)
                if image_id not in expected:
                    # Someone else's: hold the lease (so the next Pull reaches other messages)
                    # and hand it back when the run ends.
                    collected.foreign += 1
                    foreign_ack_ids.append(received.ack_id)
                    continue
                ours.append(received.ack_id)
                if image_id in collected.results:
                    collected.duplicates += 1  # at-least-once delivery: the first answer counts
                else:
                    collected.results[image_id] = body
                    collected.received_at[image_id] = time.monotonic()
            if ours:
                acknowledge(subscriber, subscription_path, ours)
            if not response.received_messages:
                # Real Pub/Sub already waited server-side; emulators answer empty at once.
                time.sleep(min(poll_interval, max(deadline - time.monotonic(), 0.0)))
    finally:
        release(subscriber, subscription_path, foreign_ack_ids, what="foreign messages")
    return collected


def acknowledge(subscriber: SubscriberClient, subscription_path: str, ack_ids: list[str]) -> None:
    try:
        subscriber.acknowledge(request={"subscription": subscription_path, "ack_ids": ack_ids})
    except api_exceptions.GoogleAPICallError as error:
        # Best effort, as acks are in Pub/Sub anyway: an unacked result is redelivered later and
        # its owner (this run) is gone by then, so it only costs a duplicate.
        print(f"warning: acknowledging {len(ack_ids)} result(s) failed: {error}", file=sys.stderr)


def outcome_of(
    submission: Submission, result: dict[str, Any] | None, latency_seconds: float | None = None
) -> Outcome:
    if result is None:
        return Outcome(submission, NO_ANSWER, error="no result before the timeout")
    status = str(result.get("status"))
    match = result.get("match")
    matched = match.get("matched") if isinstance(match, dict) else None
    labels = tuple(
        (str(label.get("description")), float(label.get("score") or 0.0))
        for label in result.get("labels") or []
        if isinstance(label, dict)
    )
    error = result.get("error")
    message = ""
    if isinstance(error, dict):
        message = f"{error.get('code')}: {error.get('message')}"
    elif status != LABELED:
        message = f"unexpected status {status!r}"
    return Outcome(
        submission,
        status,
        matched if isinstance(matched, bool) else None,
        labels,
        message,
        latency_seconds,
    )


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def verdict(outcome: Outcome) -> str:
    """The gate's decision as the User-Service acts on it."""
    if outcome.status != LABELED or outcome.matched is None:
        return "-"
    return ("accepted" if outcome.matched else "rejected") + (
        " (!)" if outcome.match_differs else ""
    )


def top_labels(outcome: Outcome) -> str:
    return (
        ", ".join(f"{name} {score:.2f}" for name, score in outcome.labels[:TOP_LABELS])
        or outcome.error
    )


def latency(outcome: Outcome) -> str:
    return "-" if outcome.latency_seconds is None else f"{outcome.latency_seconds * 1000:.0f} ms"


# Every column a table can show; smoke and local each pick theirs.
COLUMNS: Mapping[str, Callable[[Outcome], str]] = {
    "id": lambda outcome: str(outcome.submission.image_id),
    "path": lambda outcome: outcome.submission.object_name,
    "status": lambda outcome: outcome.status,
    "matched": lambda outcome: yes_no(outcome.matched) + (" (!)" if outcome.match_differs else ""),
    "expected": lambda outcome: yes_no(outcome.submission.image.expect_match),
    "verdict": verdict,
    "top labels": top_labels,
    "latency": latency,
}
SMOKE_COLUMNS = ("id", "path", "status", "matched", "expected", "top labels")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart (what the tests and a reader split on)."""
    lines = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def render_table(outcomes: Sequence[Outcome], columns: Sequence[str] = SMOKE_COLUMNS) -> str:
    return table(
        columns, [tuple(COLUMNS[column](outcome) for column in columns) for outcome in outcomes]
    )


def summarize(
    outcomes: Sequence[Outcome],
    collected: Collected,
    options: Options,
    seconds: float,
) -> tuple[bool, list[str]]:
    """Whether the run passed, and the lines that say why."""
    labeled = [outcome for outcome in outcomes if outcome.status == LABELED]
    unanswered = [outcome for outcome in outcomes if outcome.status == NO_ANSWER]
    failed = [outcome for outcome in outcomes if outcome.status not in (LABELED, NO_ANSWER)]
    differing = [outcome for outcome in outcomes if outcome.match_differs]
    lines = []
    for outcome in failed:
        lines.append(
            f"FAILED  {outcome.submission.image_id} ({outcome.submission.object_name}): "
            f"{outcome.error}"
        )
    for outcome in unanswered:
        lines.append(
            f"TIMEOUT {outcome.submission.image_id} ({outcome.submission.object_name}): "
            f"no result within {options.timeout:g} s"
        )
    for outcome in differing:
        severity = "MISMATCH" if options.enforce_match else "note:"
        lines.append(
            f"{severity} {outcome.submission.image_id} ({outcome.submission.image.file.name}): "
            f"matched={yes_no(outcome.matched)}, expected {yes_no(outcome.submission.image.expect_match)}"
            + ("" if options.enforce_match else " (reported only; --enforce-match fails on it)")
        )
    if collected.foreign:
        lines.append(
            f"left {collected.foreign} delivery(ies) of other ids unacknowledged for their owner"
        )
    passed = not failed and not unanswered and not (options.enforce_match and differing)
    lines.append(
        f"{options.name} {'PASS' if passed else 'FAIL'}: {len(labeled)}/{len(outcomes)} labeled, "
        f"{len(failed)} failed, {len(unanswered)} timed out"
        + (f", {len(differing)} match mismatch(es)" if differing else "")
        + f" in {seconds:.1f} s"
    )
    return passed, lines


@dataclass(frozen=True)
class Options:
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    enforce_match: bool = False
    cleanup: bool = False
    max_messages: int = 10
    poll_interval: float = 1.0
    name: str = "smoke"  # starts the ERROR / PASS / FAIL lines
    columns: Sequence[str] = SMOKE_COLUMNS


@dataclass(frozen=True)
class Report:
    exit_code: int
    outcomes: Sequence[Outcome] = ()


def run(
    target: Target,
    submissions: Sequence[Submission],
    options: Options,
    clients: Clients,
    out: TextIO | None = None,
) -> Report:
    """Upload, publish, collect, print the table and the verdict lines."""
    out = out or sys.stdout  # looked up per call, so redirections (and pytest's capsys) apply
    started = time.monotonic()
    try:
        upload(clients.storage, target.bucket, submissions)
    except SUBMIT_ERRORS as error:
        print(
            f"{options.name} ERROR: could not upload to gs://{target.bucket}: {describe(error)}",
            file=out,
        )
        return Report(USAGE_ERROR)
    try:
        published_at = publish(clients.publisher, target.topic_path, submissions)
    except SUBMIT_ERRORS as error:
        print(
            f"{options.name} ERROR: could not publish to {target.topic_path}: {describe(error)}",
            file=out,
        )
        return Report(USAGE_ERROR)
    collected = collect(
        clients.subscriber,
        target.subscription_path,
        [submission.key for submission in submissions],
        options.timeout,
        max_messages=options.max_messages,
        poll_interval=options.poll_interval,
    )
    outcomes = []
    for submission in submissions:
        received_at = collected.received_at.get(submission.key)
        seconds = None if received_at is None else received_at - published_at[submission.key]
        outcomes.append(outcome_of(submission, collected.results.get(submission.key), seconds))
    if options.cleanup:
        delete_objects(clients.storage, target.bucket, submissions, out)
    passed, lines = summarize(outcomes, collected, options, time.monotonic() - started)
    print(render_table(outcomes, options.columns), file=out)
    print("\n".join(lines), file=out)
    return Report(PASS if passed else FAIL, outcomes)


def delete_objects(
    client: StorageClient, bucket: str, submissions: Iterable[Submission], out: TextIO
) -> None:
    images_bucket = client.bucket(bucket)
    for submission in submissions:
        try:
            images_bucket.blob(submission.object_name).delete()
        except api_exceptions.GoogleAPIError as error:
            print(f"warning: could not delete {submission.object_name}: {error}", file=out)
