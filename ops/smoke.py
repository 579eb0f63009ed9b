"""Smoke-test a deployed AI-Service by doing, for a few images, what the User-Service does.

    python -m ops.smoke --project P --bucket B --topic T --subscription S [--timeout 180] [IMAGE ...]
    python -m ops.smoke --outputs-json outputs.json [IMAGE ...]   # `pulumi stack output --json`

For each image: upload it to the images bucket as `smoke/<run id>/<file name>`, publish
`{"id": "<unique id>", "path": "<object name>"}` to the new-image topic, then pull the results from the
User-Service subscription (synchronous Pull) until every id has answered or the timeout passes. It
prints one table row per image and exits 0 only if every image came back `labeled`.

Results of this run are acknowledged. Messages for other ids belong to someone else (the User-Service,
another smoke run): they are never acknowledged, and their leases are released (ack deadline 0) when
the run ends, so their owner gets them back at once instead of after the ack deadline.

Credentials are application-default; STORAGE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST (the client
libraries' own variables) point it at emulators. Exit status: 0 pass, 1 fail, 2 usage or setup error.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import secrets
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    resolve_outputs,
    resource_path,
)
from ops.common import release as release_leases

DEFAULT_MANIFEST = Path(__file__).resolve().parent / "samples" / "manifest.json"
# A cold start, a Vision call and a redelivery or two (the push retry backoff starts at 10 s).
DEFAULT_TIMEOUT_SECONDS = 180.0
PUBLISH_TIMEOUT_SECONDS = 30.0
LABELED, FAILED, NO_ANSWER = "labeled", "failed", "timeout"
TOP_LABELS = 3

# `pulumi stack output --json` names, as exported by infra/composition.py build_stack().
OUTPUT_NAMES = {
    "project": "project",
    "bucket": "imagesBucket",
    "topic": "newImageTopic",
    "subscription": "userServiceSubscription",
}

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
    image_id: str
    image: SampleImage
    object_name: str


@dataclass(frozen=True)
class Outcome:
    submission: Submission
    status: str  # labeled, failed, timeout, or whatever unexpected status the result carried
    matched: bool | None = None
    labels: tuple[tuple[str, float], ...] = ()
    error: str = ""

    @property
    def match_differs(self) -> bool:
        expected = self.submission.image.expect_match
        return self.status == LABELED and expected is not None and expected != self.matched


@dataclass
class Collected:
    """What the pull loop read: the first result per id of this run, and what it left alone."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
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


def resolve_target(arguments: argparse.Namespace) -> Target:
    """Explicit arguments win over --outputs-json; all four values are required in the end."""
    values = resolve_outputs(arguments, OUTPUT_NAMES)
    project = values["project"]
    return Target(
        project=project,
        bucket=values["bucket"].removeprefix("gs://").rstrip("/"),
        topic_path=resource_path(project, "topics", values["topic"]),
        subscription_path=resource_path(project, "subscriptions", values["subscription"]),
    )


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


def new_run_id() -> str:
    """Sortable and unique enough across concurrent runs: UTC time plus 32 random bits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def plan(images: Sequence[SampleImage], run_id: str) -> list[Submission]:
    return [
        Submission(f"smoke-{run_id}-{index}", image, f"smoke/{run_id}/{image.file.name}")
        for index, image in enumerate(images, start=1)
    ]


# -- the run -----------------------------------------------------------------------------------


def upload(client: StorageClient, bucket: str, submissions: Iterable[Submission]) -> None:
    # bucket() builds a reference without a GET: the smoke identity needs object rights only.
    images_bucket = client.bucket(bucket)
    for submission in submissions:
        content_type = mimetypes.guess_type(submission.image.file.name)[0]
        images_bucket.blob(submission.object_name).upload_from_filename(
            str(submission.image.file), content_type=content_type or "application/octet-stream"
        )


def publish(
    publisher: PublisherClient,
    topic_path: str,
    submissions: Iterable[Submission],
    timeout: float = PUBLISH_TIMEOUT_SECONDS,
) -> None:
    """One message per image, exactly the User-Service's `{"id", "path"}`; every future is awaited."""
    futures = [
        publisher.publish(
            topic_path,
            json.dumps({"id": submission.image_id, "path": submission.object_name}).encode(),
        )
        for submission in submissions
    ]
    for future in futures:
        future.result(timeout=timeout)


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
            if ours:
                acknowledge(subscriber, subscription_path, ours)
            if not response.received_messages:
                # Real Pub/Sub already waited server-side; emulators answer empty at once.
                time.sleep(min(poll_interval, max(deadline - time.monotonic(), 0.0)))
    finally:
        release(subscriber, subscription_path, foreign_ack_ids)
    return collected


def acknowledge(subscriber: SubscriberClient, subscription_path: str, ack_ids: list[str]) -> None:
    try:
        subscriber.acknowledge(request={"subscription": subscription_path, "ack_ids": ack_ids})
    except api_exceptions.GoogleAPICallError as error:
        # Best effort, as acks are in Pub/Sub anyway: an unacked result is redelivered later and
        # its owner (this run) is gone by then, so it only costs a duplicate.
        print(f"warning: acknowledging {len(ack_ids)} result(s) failed: {error}", file=sys.stderr)


def release(subscriber: SubscriberClient, subscription_path: str, ack_ids: list[str]) -> None:
    """Hand other ids' results back to their owner at once (ack deadline 0)."""
    release_leases(subscriber, subscription_path, ack_ids, "foreign messages")


def outcome_of(submission: Submission, result: dict[str, Any] | None) -> Outcome:
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
        submission, status, matched if isinstance(matched, bool) else None, labels, message
    )


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def render_table(outcomes: Sequence[Outcome]) -> str:
    header = ("id", "path", "status", "matched", "expected", "top labels")
    rows = [
        (
            outcome.submission.image_id,
            outcome.submission.object_name,
            outcome.status,
            yes_no(outcome.matched) + (" (!)" if outcome.match_differs else ""),
            yes_no(outcome.submission.image.expect_match),
            ", ".join(f"{name} {score:.2f}" for name, score in outcome.labels[:TOP_LABELS])
            or outcome.error,
        )
        for outcome in outcomes
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
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
    verdict = "PASS" if passed else "FAIL"
    lines.append(
        f"smoke {verdict}: {len(labeled)}/{len(outcomes)} labeled, {len(failed)} failed, "
        f"{len(unanswered)} timed out"
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


def run(
    target: Target,
    images: Sequence[SampleImage],
    options: Options,
    clients: Clients,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout  # looked up per call, so redirections (and pytest's capsys) apply
    started = time.monotonic()
    run_id = new_run_id()
    submissions = plan(images, run_id)
    print(
        f"smoke run {run_id}: {len(submissions)} image(s) -> gs://{target.bucket}/smoke/{run_id}/, "
        f"publishing to {target.topic_path}, reading {target.subscription_path}",
        file=out,
    )
    try:
        upload(clients.storage, target.bucket, submissions)
    except SUBMIT_ERRORS as error:
        print(f"smoke ERROR: could not upload to gs://{target.bucket}: {describe(error)}", file=out)
        return USAGE_ERROR
    try:
        publish(clients.publisher, target.topic_path, submissions)
    except SUBMIT_ERRORS as error:
        print(f"smoke ERROR: could not publish to {target.topic_path}: {describe(error)}", file=out)
        return USAGE_ERROR
    collected = collect(
        clients.subscriber,
        target.subscription_path,
        [submission.image_id for submission in submissions],
        options.timeout,
        max_messages=options.max_messages,
        poll_interval=options.poll_interval,
    )
    outcomes = [
        outcome_of(submission, collected.results.get(submission.image_id))
        for submission in submissions
    ]
    if options.cleanup:
        delete_objects(clients.storage, target.bucket, submissions, out)
    passed, lines = summarize(outcomes, collected, options, time.monotonic() - started)
    print(render_table(outcomes), file=out)
    print("\n".join(lines), file=out)
    return PASS if passed else FAIL


def delete_objects(
    client: StorageClient, bucket: str, submissions: Iterable[Submission], out: TextIO
) -> None:
    images_bucket = client.bucket(bucket)
    for submission in submissions:
        try:
            images_bucket.blob(submission.object_name).delete()
        except api_exceptions.GoogleAPIError as error:
            print(f"warning: could not delete {submission.object_name}: {error}", file=out)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.smoke",
        description="Label a few images through a deployed AI-Service, as the User-Service does.",
    )
    parser.add_argument("images", nargs="*", type=Path, help="default: the shipped sample set")
    parser.add_argument(
        "--outputs-json", metavar="FILE", help="`pulumi stack output --json` (- = stdin)"
    )
    parser.add_argument("--project", help="Google Cloud project id (output: project)")
    parser.add_argument("--bucket", help="images bucket (output: imagesBucket)")
    parser.add_argument("--topic", help="new-image topic, name or path (output: newImageTopic)")
    parser.add_argument(
        "--subscription", help="User-Service results subscription (output: userServiceSubscription)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds to wait for results"
    )
    parser.add_argument(
        "--manifest", type=Path, help=f"images with expect_match (default: {DEFAULT_MANIFEST.name})"
    )
    parser.add_argument(
        "--enforce-match", action="store_true", help="fail when a match differs from expect_match"
    )
    parser.add_argument("--cleanup", action="store_true", help="delete the uploaded objects after")
    parser.add_argument("--max-messages", type=int, default=10, help="per Pull request")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds between empty Pulls"
    )
    arguments = parser.parse_args(argv)
    if arguments.timeout <= 0 or arguments.max_messages < 1 or arguments.poll_interval < 0:
        parser.error("--timeout must be > 0, --max-messages >= 1, --poll-interval >= 0")
    if arguments.images and arguments.manifest:
        parser.error("give images or --manifest, not both")
    return arguments


def main(argv: Sequence[str] | None = None, clients: Clients | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        target = resolve_target(arguments)
        if arguments.images:
            images = [SampleImage(path.expanduser()) for path in arguments.images]
            enforce_match = False
        else:
            images, enforce_match = load_manifest(arguments.manifest or DEFAULT_MANIFEST)
        check_images(images)
    except UsageError as error:
        print(f"smoke ERROR: {error}", file=sys.stderr)
        return USAGE_ERROR
    options = Options(
        timeout=arguments.timeout,
        enforce_match=enforce_match or arguments.enforce_match,
        cleanup=arguments.cleanup,
        max_messages=arguments.max_messages,
        poll_interval=arguments.poll_interval,
    )
    try:
        clients = clients or Clients.build(target.project)
    except GoogleAuthError as error:
        print(
            f"smoke ERROR: no credentials ({error}); run `gcloud auth application-default login`",
            file=sys.stderr,
        )
        return USAGE_ERROR
    return run(target, images, options, clients)


if __name__ == "__main__":
    sys.exit(main())
