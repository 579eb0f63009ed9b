"""Replay dead letters: move messages from the dead-letter subscription back to the new-image topic.

    python -m ops.redrive --project P --subscription DEAD_LETTER_SUB [--topic user-service-new-image]
    python -m ops.redrive --outputs-json outputs.json [--dry-run] [--limit N] [--older-than 10m]

Pub/Sub has no built-in redrive (SQS has). After an outage is over, this pulls the dead-letter
subscription (synchronous Pull) and republishes every message to `user-service-new-image`, where the
push subscription hands it to the function again.

- **Intact.** Data and every attribute the User-Service sent are republished unchanged. Only the four
  attributes Pub/Sub added when it dead-lettered the message (`CloudPubSubDeadLetterSource*`: delivery
  count, subscription, its project, first publish time) are dropped: they describe the failed run, not
  the upload, and if the message fails again Pub/Sub writes fresh ones. The republished message gets a
  new message id (Pub/Sub assigns it), so consumers de-duplicate on the result's `id`.
- **At least once, nothing lost.** A dead letter is acknowledged only after Pub/Sub confirmed its
  republish (`future.result()`). Killed at any point, a message is either still on the dead-letter
  subscription (its lease runs out and it is delivered again) or already republished; at worst it is
  republished twice, which the function and its consumers already tolerate (duplicate delivery).
- **Leases.** Every message it holds (being republished, or left alone) has its ack deadline extended
  in the background until the run ends; the ones it will not move (too young for `--older-than`, over
  `--limit`, a failed republish, every one with `--dry-run`) are released then (ack deadline 0), so
  they are available again at once.

- **Shown, not obeyed.** What the listing and the error lines print of a message (its `id` and `path`,
  attributes, error text) is escaped and cut to a length (`printable`): a dead letter cannot drive the
  operator's terminal or forge a row.

The run ends when `--limit` messages moved, or when no new message arrived for `--idle-seconds`.
Exit status (as ops.smoke): 0 every selected message moved (or nothing to move), 1 some republish
failed (those stay on the dead-letter subscription), 2 usage or setup error (bad arguments, missing
stack output, no credentials, subscription or topic missing or not permitted).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures as concurrent_futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from google.api_core import exceptions as api_exceptions
from google.auth.exceptions import GoogleAuthError
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from ops.common import (
    FAIL,
    PASS,
    PULL_TRANSIENT,
    PULL_WAIT_SECONDS,
    USAGE_ERROR,
    UsageError,
    describe,
    modify_ack_deadline,
    release,
    resolve_outputs,
    resource_path,
)

# `pulumi stack output --json` names, as exported by infra/composition.py build_stack().
OUTPUT_NAMES = {
    "project": "project",
    "subscription": "deadLetterSubscription",
    "topic": "newImageTopic",
}
# Attributes Pub/Sub adds when it dead-letters a message (documented in "Dead-letter topics":
# CloudPubSubDeadLetterSourceDeliveryCount, ...SourceSubscription, ...SourceSubscriptionProject,
# ...SourceTopicPublishTime); the emulator adds the same four.
DEAD_LETTER_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"
DELIVERY_COUNT_ATTRIBUTE = "CloudPubSubDeadLetterSourceDeliveryCount"
PUBLISH_TIMEOUT_SECONDS = 60.0
DEFAULT_BATCH = 100
DEFAULT_IDLE_SECONDS = 10.0
# The leases of held messages are renewed to this many seconds, a third of it before they run out.
DEFAULT_LEASE_SECONDS = 60
# Errors that mean every further republish fails too: stop, nothing is acknowledged.
SETUP_ERRORS = (
    api_exceptions.NotFound,
    api_exceptions.PermissionDenied,
    api_exceptions.Unauthenticated,
    api_exceptions.InvalidArgument,
    GoogleAuthError,
)
# What redrive prints of a message is the sender's text. Every character of these categories is shown
# as an escape: controls (Cc: ESC sequences, CR/LF, tab), format characters (Cf, the bidi controls of
# CVE-2021-42574 among them), surrogates (Cs, which json.loads makes of a lone "\ud800" and which
# cannot be printed), private-use and unassigned (Co, Cn) and the line and paragraph separators (Zl, Zp,
# which str.splitlines breaks on). Each printed field is cut to its limit.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
MESSAGE_ID_CHARS = 64  # Pub/Sub's message ids are about 16 digits
IMAGE_ID_CHARS = 128  # a UUID is 36; the function accepts ids up to 1,024 bytes
PATH_CHARS = 256
DELIVERIES_CHARS = 32  # a number from Pub/Sub
ERROR_CHARS = 512
# The listing parses at most this much of a message's data: far more than any valid message (an id and
# a path of 1,024 bytes each, every byte written as a 6-byte JSON escape, make about 12 KiB).
MAX_LISTED_DATA_BYTES = 64 * 1024
UNREADABLE = "-"  # the listing's `id` and `path` when the data is not a JSON object (or too large)
_SHORT_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """`90s`, `10m`, `2h`, `1h30m`, `7d` -> seconds; a bare number means seconds."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION_PART.findall(value)
        if not parts or "".join(number + unit for number, unit in parts) != value:
            raise argparse.ArgumentTypeError(
                f"not a duration: {text!r} (expected e.g. 90s, 10m, 2h, 1h30m, 7d)"
            ) from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"a duration cannot be negative: {text!r}")
    return seconds


def format_age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _escape(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if unicodedata.category(char) not in ESCAPED_CATEGORIES:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _cut_marker(cut: int) -> str:
    return f"...[+{cut} chars]"


def printable(text: str, limit: int) -> str:
    """`text` safe to print on one line: each character of ESCAPED_CATEGORIES as a Python escape
    (`\\x1b`, `\\u202e`; `\\t`, `\\n`, `\\r`; a backslash doubled, so every escape is unambiguous),
    at most `limit` characters, a cut marked `...[+N chars]` (N characters of `text` not shown)."""
    pieces: list[str] = []  # one per character of text
    size = 0
    for char in text:  # stops past `limit` characters: a 1 MB path costs no more than a short one
        piece = _escape(char)
        if size + len(piece) > limit:
            break
        pieces.append(piece)
        size += len(piece)
    else:
        return "".join(pieces)
    while pieces and size + len(_cut_marker(len(text) - len(pieces))) > limit:
        size -= len(pieces.pop())  # make room for the marker
    return ("".join(pieces) + _cut_marker(len(text) - len(pieces)))[:limit]


def _listed_value(value: object, limit: int) -> str:
    """A field of the message for the listing: a string as it is, anything else as its JSON."""
    if isinstance(value, str):
        return printable(value, limit)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # loads accepted it, so neither is expected
        return UNREADABLE
    return printable(text, limit)


@dataclass(frozen=True)
class Target:
    subscription_path: str
    topic_path: str


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    limit: int | None = None
    older_than: float = 0.0
    batch: int = DEFAULT_BATCH
    idle_seconds: float = DEFAULT_IDLE_SECONDS
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    rate: float = 0.0  # messages per second; 0 = as fast as Pub/Sub confirms
    publish_timeout: float = PUBLISH_TIMEOUT_SECONDS
    poll_interval: float = 0.5


@dataclass(frozen=True)
class DeadLetter:
    """One pulled dead letter and what the listing shows of it."""

    ack_id: str
    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    published: datetime | None  # when it reached the dead-letter topic (None: Pub/Sub did not say)

    @property
    def republished_attributes(self) -> dict[str, str]:
        return {
            name: value
            for name, value in self.attributes.items()
            if not name.startswith(DEAD_LETTER_ATTRIBUTE_PREFIX)
        }

    @property
    def delivery_count(self) -> str:
        return self.attributes.get(DELIVERY_COUNT_ATTRIBUTE, "-")

    def age(self, now: datetime) -> float | None:
        return None if self.published is None else (now - self.published).total_seconds()

    def image(self) -> tuple[str, str]:
        """The User-Service's `id` and `path`, printable, for the listing only ('-' when not
        readable: not UTF-8, not a JSON object, nested too deep or above MAX_LISTED_DATA_BYTES)."""
        if len(self.data) > MAX_LISTED_DATA_BYTES:
            return UNREADABLE, UNREADABLE
        try:
            body = json.loads(self.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: b"[" * 1000
            return UNREADABLE, UNREADABLE
        if not isinstance(body, dict):
            return UNREADABLE, UNREADABLE
        return (
            _listed_value(body.get("id", UNREADABLE), IMAGE_ID_CHARS),
            _listed_value(body.get("path", UNREADABLE), PATH_CHARS),
        )

    def listing_row(self, now: datetime) -> str:
        """Its row of the dry-run listing: message id, id, path, deliveries, age; one line."""
        image_id, path = self.image()
        age = self.age(now)
        return "\t".join(
            (
                printable(self.message_id, MESSAGE_ID_CHARS),
                image_id,
                path,
                printable(self.delivery_count, DELIVERIES_CHARS),
                UNREADABLE if age is None else format_age(age),
            )
        )


@dataclass
class Tally:
    pulled: int = 0
    moved: int = 0
    failed: int = 0
    skipped_young: int = 0
    skipped_limit: int = 0
    duplicates: int = 0
    transient_pull_errors: int = 0
    errors: list[str] = field(default_factory=list)


class Leases:
    """Ack ids this run holds; a daemon thread keeps extending their ack deadlines."""

    def __init__(self, subscriber: SubscriberClient, subscription_path: str, seconds: int) -> None:
        self._subscriber = subscriber
        self._subscription_path = subscription_path
        self._seconds = seconds
        self._held: dict[str, str] = {}  # message id -> current ack id
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="redrive-leases", daemon=True)

    def __enter__(self) -> Leases:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join()

    def hold(self, message_id: str, ack_id: str) -> None:
        with self._lock:
            self._held[message_id] = ack_id

    def drop(self, message_id: str) -> None:
        with self._lock:
            self._held.pop(message_id, None)

    def ack_ids(self) -> list[str]:
        with self._lock:
            return list(self._held.values())

    def _renew(self) -> None:
        while not self._stopped.wait(self._seconds / 3):
            ack_ids = self.ack_ids()
            if ack_ids:
                modify_ack_deadline(
                    self._subscriber,
                    self._subscription_path,
                    ack_ids,
                    self._seconds,
                    "held messages",
                )


class SetupError(Exception):
    """The run cannot go on (missing subscription or topic, no permission): exit 2."""


class Redrive:
    """One run: pull, select, republish, acknowledge; every held lease is released at the end."""

    def __init__(
        self,
        target: Target,
        options: Options,
        publisher: PublisherClient,
        subscriber: SubscriberClient,
        out: TextIO,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.target = target
        self.options = options
        self.publisher = publisher
        self.subscriber = subscriber
        self.out = out
        self.clock = clock
        self.tally = Tally()
        self.moved_ids: set[str] = set()  # message ids republished and confirmed in this run
        self.seen: set[str] = set()  # message ids pulled in this run
        self._next_publish = time.monotonic()
        self._last_progress = 0.0

    # -- selection ------------------------------------------------------------------------------

    def remaining(self) -> int | None:
        if self.options.limit is None:
            return None
        return self.options.limit - self.tally.moved - self.tally.failed

    def _select(self, letters: Sequence[DeadLetter], leases: Leases) -> list[DeadLetter]:
        """The letters to move now; every other one stays held until the run ends."""
        now = self.clock()
        chosen: list[DeadLetter] = []
        for letter in letters:
            if letter.message_id in self.moved_ids:
                # Delivered again after our republish was confirmed (its ack was lost or late).
                self.tally.duplicates += 1
                self._acknowledge([letter.ack_id])
                continue
            first_sight = letter.message_id not in self.seen
            self.seen.add(letter.message_id)
            if not first_sight:
                # Held by this run and delivered again (a lease that lapsed): keep the newest ack
                # id, which is the valid one, and decide nothing twice.
                self.tally.duplicates += 1
                leases.hold(letter.message_id, letter.ack_id)
                continue
            self.tally.pulled += 1
            leases.hold(letter.message_id, letter.ack_id)
            age = letter.age(now)
            if self.options.older_than and (age is None or age < self.options.older_than):
                self.tally.skipped_young += 1
                continue
            remaining = self.remaining()
            if remaining is not None and len(chosen) >= remaining:
                self.tally.skipped_limit += 1
                continue
            chosen.append(letter)
        return chosen

    # -- moving ---------------------------------------------------------------------------------

    def _throttle(self) -> None:
        if self.options.rate <= 0:
            return
        wait = self._next_publish - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next_publish = max(self._next_publish, time.monotonic()) + 1.0 / self.options.rate

    def _move(self, letters: Sequence[DeadLetter], leases: Leases) -> None:
        pending: list[tuple[DeadLetter, concurrent_futures.Future[str]]] = []
        for letter in letters:
            self._throttle()
            future = self.publisher.publish(
                self.target.topic_path, letter.data, **letter.republished_attributes
            )
            pending.append((letter, future))
        confirmed: list[str] = []
        setup_error: BaseException | None = None
        for letter, future in pending:
            try:
                future.result(timeout=self.options.publish_timeout)
            except SETUP_ERRORS as error:
                setup_error = setup_error or error
                self.tally.failed += 1
                continue  # stays held, released at the end: not acknowledged
            except (api_exceptions.GoogleAPIError, concurrent_futures.TimeoutError) as error:
                self.tally.failed += 1
                self.tally.errors.append(f"{letter.message_id}: {describe(error)}")
                continue
            self.moved_ids.add(letter.message_id)
            leases.drop(letter.message_id)
            confirmed.append(letter.ack_id)
            self.tally.moved += 1
        # Only now, with every republish of the batch confirmed or failed, acknowledge the moved.
        self._acknowledge(confirmed)
        if setup_error is not None:
            raise SetupError(f"cannot publish to {self.target.topic_path}: {describe(setup_error)}")

    def _acknowledge(self, ack_ids: list[str]) -> None:
        if not ack_ids:
            return
        try:
            self.subscriber.acknowledge(
                request={"subscription": self.target.subscription_path, "ack_ids": ack_ids}
            )
        except api_exceptions.GoogleAPICallError as error:
            # Already republished: an ack that did not land only means a duplicate republish
            # when the dead letter is delivered again (at least once).
            print(
                f"warning: acknowledging {len(ack_ids)} dead letter(s) failed: "
                + printable(str(error), ERROR_CHARS),
                file=sys.stderr,
            )

    # -- listing and progress -------------------------------------------------------------------

    def _list(self, letters: Sequence[DeadLetter]) -> None:
        now = self.clock()
        for letter in letters:
            print(letter.listing_row(now), file=self.out)

    def _progress(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_progress < 1.0:
            return
        self._last_progress = now
        verb = "would move" if self.options.dry_run else "moved"
        print(
            f"progress: pulled {self.tally.pulled}, {verb} {self.tally.moved}, "
            f"failed {self.tally.failed}, left {self.tally.skipped_young + self.tally.skipped_limit}",
            file=sys.stderr,
            flush=True,
        )

    # -- the loop -------------------------------------------------------------------------------

    def _pull(self, max_messages: int, timeout: float) -> list[DeadLetter] | None:
        try:
            response = self.subscriber.pull(
                request={
                    "subscription": self.target.subscription_path,
                    "max_messages": max_messages,
                },
                timeout=timeout,
                retry=None,
            )
        except PULL_TRANSIENT:
            self.tally.transient_pull_errors += 1
            return None
        except SETUP_ERRORS as error:
            raise SetupError(
                f"cannot pull {self.target.subscription_path}: {describe(error)}"
            ) from error
        return [
            DeadLetter(
                ack_id=received.ack_id,
                message_id=received.message.message_id,
                data=received.message.data,
                attributes=dict(received.message.attributes),
                published=received.message.publish_time,
            )
            for received in response.received_messages
        ]

    def run(self) -> int:
        options = self.options
        started = time.monotonic()
        mode = "dry run: listing what would move from" if options.dry_run else "moving"
        print(
            f"redrive {mode} {self.target.subscription_path} -> {self.target.topic_path}"
            + (f", at most {options.limit}" if options.limit is not None else "")
            + (
                f", dead-lettered at least {format_age(options.older_than)} ago"
                if options.older_than
                else ""
            ),
            file=self.out,
        )
        if options.dry_run:
            print("message_id\tid\tpath\tdeliveries\tage", file=self.out)
        leases = Leases(self.subscriber, self.target.subscription_path, options.lease_seconds)
        outcome = PASS
        try:
            with leases:  # renewals stop before the release below, so none can undo it
                self._loop(leases)
        except SetupError as error:
            print(f"redrive ERROR: {printable(str(error), ERROR_CHARS)}", file=sys.stderr)
            outcome = USAGE_ERROR
        except KeyboardInterrupt:
            print("redrive: interrupted; releasing held messages", file=sys.stderr)
            outcome = FAIL
        finally:
            release(
                self.subscriber,
                self.target.subscription_path,
                leases.ack_ids(),
                "held dead letters",
            )
        self._progress(final=True)
        for line in self.tally.errors[:20]:
            print(f"FAILED {printable(line, ERROR_CHARS)}", file=self.out)
        tally = self.tally
        left = tally.skipped_young + tally.skipped_limit
        if outcome == PASS and tally.failed:
            outcome = FAIL
        verdict = {PASS: "OK", FAIL: "FAILED", USAGE_ERROR: "ERROR"}[outcome]
        verb = "would move" if options.dry_run else "moved"
        print(
            f"redrive {verdict}: {verb} {tally.moved} of {tally.pulled} dead letter(s), "
            f"{tally.failed} failed, {left} left on the subscription "
            f"({tally.skipped_young} younger than --older-than, {tally.skipped_limit} over --limit)"
            + (f", {tally.duplicates} duplicate deliveries" if tally.duplicates else "")
            + f" in {time.monotonic() - started:.1f} s",
            file=self.out,
        )
        return outcome

    def _loop(self, leases: Leases) -> None:
        options = self.options
        last_new = time.monotonic()
        while True:
            remaining = self.remaining()
            if remaining is not None and remaining <= 0:
                return
            idle_left = options.idle_seconds - (time.monotonic() - last_new)
            if idle_left <= 0:
                return
            letters = self._pull(options.batch, min(PULL_WAIT_SECONDS, max(idle_left, 0.1)))
            if not letters:
                time.sleep(min(options.poll_interval, max(idle_left, 0.0)))
                continue
            if any(letter.message_id not in self.seen for letter in letters):
                last_new = time.monotonic()
            chosen = self._select(letters, leases)
            if options.dry_run:
                self._list(chosen)
                self.tally.moved += len(chosen)  # "would move"; they stay held, then released
            else:
                self._move(chosen, leases)
            self._progress()


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.redrive",
        description="Republish dead letters to the new-image topic, acknowledging each only after "
        "its republish is confirmed.",
    )
    parser.add_argument(
        "--outputs-json", metavar="FILE", help="`pulumi stack output --json` (- = stdin)"
    )
    parser.add_argument("--project", help="Google Cloud project id (output: project)")
    parser.add_argument(
        "--subscription",
        help="dead-letter subscription, name or path (output: deadLetterSubscription)",
    )
    parser.add_argument(
        "--topic",
        help="where to republish, name or path (output: newImageTopic; user-service-new-image)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would move, acknowledge nothing"
    )
    parser.add_argument("--limit", type=int, help="move at most N messages")
    parser.add_argument(
        "--older-than",
        type=parse_duration,
        default=0.0,
        metavar="DURATION",
        help="only messages dead-lettered at least this long ago (90s, 10m, 2h, 1h30m, 7d)",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="republish at most N per second (0: no cap)"
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="messages per Pull")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=DEFAULT_IDLE_SECONDS,
        help="stop after this long without a new message",
    )
    parser.add_argument(
        "--lease-seconds",
        type=int,
        default=DEFAULT_LEASE_SECONDS,
        help="ack deadline held messages are extended to (10-600)",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="seconds between empty Pulls"
    )
    arguments = parser.parse_args(argv)
    if arguments.limit is not None and arguments.limit < 1:
        parser.error("--limit must be >= 1")
    if not 1 <= arguments.batch <= 1000:
        parser.error("--batch must be from 1 to 1000")
    if not 10 <= arguments.lease_seconds <= 600:
        parser.error("--lease-seconds must be from 10 to 600 (Pub/Sub's ack deadline range)")
    if arguments.rate < 0 or arguments.idle_seconds <= 0 or arguments.poll_interval < 0:
        parser.error("--rate must be >= 0, --idle-seconds > 0, --poll-interval >= 0")
    return arguments


def resolve_target(arguments: argparse.Namespace) -> Target:
    values = resolve_outputs(arguments, OUTPUT_NAMES)
    project = values["project"]
    return Target(
        subscription_path=resource_path(project, "subscriptions", values["subscription"]),
        topic_path=resource_path(project, "topics", values["topic"]),
    )


def main(
    argv: Sequence[str] | None = None,
    clients: tuple[PublisherClient, SubscriberClient] | None = None,
    out: TextIO | None = None,
) -> int:
    arguments = parse_arguments(argv)
    try:
        target = resolve_target(arguments)
    except UsageError as error:
        print(f"redrive ERROR: {error}", file=sys.stderr)
        return USAGE_ERROR
    options = Options(
        dry_run=arguments.dry_run,
        limit=arguments.limit,
        older_than=arguments.older_than,
        batch=arguments.batch,
        idle_seconds=arguments.idle_seconds,
        lease_seconds=arguments.lease_seconds,
        rate=arguments.rate,
        poll_interval=arguments.poll_interval,
    )
    try:
        publisher, subscriber = clients or (PublisherClient(), SubscriberClient())
    except GoogleAuthError as error:
        print(
            f"redrive ERROR: no credentials ({error}); run `gcloud auth application-default login`",
            file=sys.stderr,
        )
        return USAGE_ERROR
    return Redrive(target, options, publisher, subscriber, out or sys.stdout).run()


if __name__ == "__main__":
    sys.exit(main())
