"""`python -m ops.redrive` on Google's real Pub/Sub emulator: dead letters go back, intact, none lost.

Each test has a project of its own on the shared emulator with the stack's three pieces that redrive
touches: the new-image topic, the dead-letter topic and its subscription. A `probe` pull subscription
on the new-image topic sees exactly what redrive republished.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.pubsub_v1 import types as pubsub_types

from ops import redrive
from ops.emulators import PubSubEmulator, pubsub_clients
from tests.fakes.push_recorder import PushRecorder
from tests.fakes.stack_cli import run_stack_target

ROOT = Path(__file__).resolve().parents[2]
NEW_IMAGE = "user-service-new-image"
DEAD_LETTER = "ai-service-image-labeling-dead-letter"
PROBE = "probe-new-image"
DEAD_LETTER_ATTRIBUTES = {
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
    "CloudPubSubDeadLetterSourceSubscription": "ai-service-image-labeling-push",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "p",
    "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-12-01T00:00:00.000Z",
}
# Short waits for the emulator, which long-polls an empty Pull.
FAST = ["--idle-seconds", "2", "--poll-interval", "0.1", "--lease-seconds", "10"]


@dataclass
class Stack:
    project: str
    host: str
    publisher: PublisherClient
    subscriber: SubscriberClient
    new_image_topic: str
    dead_letter_topic: str
    dead_letter_subscription: str
    probe_subscription: str

    def arguments(self, *extra: str) -> list[str]:
        return [
            "--project",
            self.project,
            "--subscription",
            DEAD_LETTER,
            "--topic",
            NEW_IMAGE,
            *FAST,
            *extra,
        ]

    def dead_letter(self, image_id: Any, **attributes: str) -> str:
        """Publish one dead letter as Pub/Sub would forward it; returns its message id."""
        data = json.dumps({"id": image_id, "path": f"uploads/{image_id}.jpg"}).encode()
        future = self.publisher.publish(
            self.dead_letter_topic, data, **{**DEAD_LETTER_ATTRIBUTES, **attributes}
        )
        message_id: str = future.result(timeout=30)
        return message_id

    def run(self, *extra: str, publisher: Any = None) -> tuple[int, str]:
        out = io.StringIO()
        exit_code = redrive.main(
            self.arguments(*extra), clients=(publisher or self.publisher, self.subscriber), out=out
        )
        return exit_code, out.getvalue()


def drain(
    subscriber: SubscriberClient, subscription: str, quiet: float = 1.0
) -> list[pubsub_types.PubsubMessage]:
    """Every message the subscription delivers until none came for `quiet` seconds (acknowledged)."""
    messages: list[pubsub_types.PubsubMessage] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        try:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 100}, timeout=1.0, retry=None
            )
        except api_exceptions.DeadlineExceeded:
            continue
        if not response.received_messages:
            time.sleep(0.1)
            continue
        last = time.monotonic()
        messages.extend(received.message for received in response.received_messages)
        ack_ids = [received.ack_id for received in response.received_messages]
        subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})
    return messages


def image_ids(messages: list[pubsub_types.PubsubMessage]) -> list[Any]:
    return [json.loads(message.data)["id"] for message in messages]


def make_stack(host: str, project: str) -> Stack:
    publisher, subscriber = pubsub_clients(host)
    new_image = publisher.topic_path(project, NEW_IMAGE)
    dead_letter = publisher.topic_path(project, DEAD_LETTER)
    publisher.create_topic(name=new_image)
    publisher.create_topic(name=dead_letter)
    dead_letter_subscription = subscriber.subscription_path(project, DEAD_LETTER)
    subscriber.create_subscription(
        name=dead_letter_subscription, topic=dead_letter, ack_deadline_seconds=10
    )
    probe = subscriber.subscription_path(project, PROBE)
    subscriber.create_subscription(name=probe, topic=new_image, ack_deadline_seconds=10)
    return Stack(
        project,
        host,
        publisher,
        subscriber,
        new_image,
        dead_letter,
        dead_letter_subscription,
        probe,
    )


@pytest.fixture
def stack(pubsub_emulator: PubSubEmulator, emulator_project: str) -> Stack:
    return make_stack(pubsub_emulator.host, emulator_project)


# -- the real dead-letter flow ----------------------------------------------------------------

# The User-Service's data and attributes, which must come back unchanged.
SENT = {"id": "outage-0", "path": "uploads/outage-0.jpg"}
SENT_ATTRIBUTES = {"origin": "user-service", "trace": "t-0", "ünïcode": "✓"}
MAX_DELIVERY_ATTEMPTS = 5


@pytest.fixture
def endpoint() -> Iterator[PushRecorder]:
    """The function's push endpoint, down: every push is answered 500 until the test says so."""
    with PushRecorder(status=500) as recorder:
        yield recorder


def test_real_dead_letters_are_republished_intact_and_processed_after_the_outage(
    private_pubsub_emulator: PubSubEmulator, emulator_project: str, endpoint: PushRecorder
) -> None:
    """An outage (the endpoint answers 500) dead-letters a message after 5 pushes; once it is over,
    redrive puts it back with the User-Service's data and attributes, and the push succeeds.

    On an emulator of its own, one failing message at a time: with several failing at once (other
    tests' too) the emulator's push loop often stalls for good; one alone is dead-lettered after
    exactly max_delivery_attempts (shared/notes/emulators.md)."""
    stack = make_stack(private_pubsub_emulator.host, emulator_project)
    push = stack.subscriber.subscription_path(stack.project, "ai-service-image-labeling-push")
    stack.subscriber.create_subscription(
        request={
            "name": push,
            "topic": stack.new_image_topic,
            "push_config": {"push_endpoint": endpoint.url},
            # Short backoffs: the emulator honours them (and paces redeliveries about 3 s apart).
            "retry_policy": {"minimum_backoff": {"seconds": 0}, "maximum_backoff": {"seconds": 1}},
            "dead_letter_policy": {
                "dead_letter_topic": stack.dead_letter_topic,
                "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
            },
        }
    )
    data = json.dumps(SENT).encode()
    stack.publisher.publish(stack.new_image_topic, data, **SENT_ATTRIBUTES).result(timeout=30)
    assert image_ids(
        drain(
            stack.subscriber,
            stack.probe_subscription,
        )
    ) == [SENT["id"]]
    pushes = endpoint.wait_for(data, MAX_DELIVERY_ATTEMPTS, timeout=60)
    assert len(pushes) == MAX_DELIVERY_ATTEMPTS, f"pushed {len(pushes)} times"

    # The dry run lists the dead letter with Pub/Sub's delivery count once it has arrived.
    deadline = time.monotonic() + 30
    listing = ""
    while f"\t{SENT['id']}\t" not in listing and time.monotonic() < deadline:
        exit_code, listing = stack.run("--dry-run")
        assert exit_code == redrive.PASS, listing
    [row] = [line.split("\t") for line in listing.splitlines() if f"\t{SENT['id']}\t" in line]
    assert row[1:4] == [SENT["id"], SENT["path"], str(MAX_DELIVERY_ATTEMPTS)], listing

    endpoint.status = 200  # the outage is over
    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert "moved 1 of 1" in output, output

    [republished] = drain(stack.subscriber, stack.probe_subscription)
    assert republished.data == data
    assert dict(republished.attributes) == SENT_ATTRIBUTES  # dead-letter attributes dropped
    [after] = endpoint.wait_for(data, MAX_DELIVERY_ATTEMPTS + 1, timeout=30)[MAX_DELIVERY_ATTEMPTS:]
    assert after.status == 200
    assert after.json()["message"].get("attributes") == SENT_ATTRIBUTES
    assert (
        drain(
            stack.subscriber,
            stack.dead_letter_subscription,
        )
        == []
    )


# -- integrity, dry run, limit, older-than ------------------------------------------------------


def test_republish_keeps_data_and_every_attribute_the_user_service_sent(stack: Stack) -> None:
    odd = {
        "id": "0042",
        "empty": "",
        "spaces and = signs": "a = b; c",
        "unicode-ключ": "значение ✓",
        "long": "x" * 1024,
        **{f"attr{index:02d}": str(index) for index in range(30)},
    }
    letters = {
        stack.dead_letter("json-image", **odd): None,
        stack.publisher.publish(
            stack.dead_letter_topic, bytes(range(256)), origin="binary", **DEAD_LETTER_ATTRIBUTES
        ).result(timeout=30): None,
        stack.publisher.publish(
            stack.dead_letter_topic, b"not json {", **DEAD_LETTER_ATTRIBUTES
        ).result(timeout=30): None,
    }
    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert f"moved {len(letters)} of {len(letters)}" in output, output
    by_data = {
        message.data: dict(message.attributes)
        for message in drain(stack.subscriber, stack.probe_subscription)
    }
    assert by_data == {
        json.dumps({"id": "json-image", "path": "uploads/json-image.jpg"}).encode(): odd,
        bytes(range(256)): {"origin": "binary"},
        b"not json {": {},
    }


def test_dry_run_lists_what_would_move_and_acknowledges_nothing(stack: Stack) -> None:
    message_ids = [stack.dead_letter(index) for index in range(3)]
    exit_code, output = stack.run("--dry-run")
    assert exit_code == redrive.PASS, output
    lines = output.splitlines()
    assert "message_id\tid\tpath\tdeliveries\tage" in lines
    for index, message_id in enumerate(message_ids):
        row = next(line for line in lines if line.startswith(f"{message_id}\t"))
        _, image_id, path, deliveries, age = row.split("\t")
        assert (image_id, path, deliveries) == (str(index), f"uploads/{index}.jpg", "5")
        assert re.fullmatch(r"\d+s", age), row
    assert "would move 3 of 3" in output
    assert (
        drain(
            stack.subscriber,
            stack.probe_subscription,
        )
        == []
    )
    # Released at once (ack deadline 0), not acknowledged: a real run right away moves all three.
    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert "moved 3 of 3" in output, output
    assert sorted(image_ids(drain(stack.subscriber, stack.probe_subscription))) == [0, 1, 2]


def test_limit_moves_at_most_n_and_leaves_the_rest(stack: Stack) -> None:
    for index in range(5):
        stack.dead_letter(index)
    exit_code, output = stack.run("--limit", "2")
    assert exit_code == redrive.PASS, output
    first = image_ids(drain(stack.subscriber, stack.probe_subscription))
    assert len(first) == 2, output
    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert "moved 3 of 3" in output, output
    second = image_ids(drain(stack.subscriber, stack.probe_subscription))
    assert sorted(first + second) == [0, 1, 2, 3, 4]


def test_older_than_moves_only_messages_dead_lettered_long_enough_ago(stack: Stack) -> None:
    for index in ("old-1", "old-2"):
        stack.dead_letter(index)
    time.sleep(3)
    for index in ("new-1", "new-2"):
        stack.dead_letter(index)
    exit_code, output = stack.run("--older-than", "2s")
    assert exit_code == redrive.PASS, output
    assert "2 younger than --older-than" in output, output
    assert sorted(image_ids(drain(stack.subscriber, stack.probe_subscription))) == [
        "old-1",
        "old-2",
    ]
    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert "moved 2 of 2" in output, output
    assert sorted(image_ids(drain(stack.subscriber, stack.probe_subscription))) == [
        "new-1",
        "new-2",
    ]


# -- what the listing prints: escaped and bounded (issue 17, finding 9) ------------------------

LONG_PATH = "a" * 50_000  # within what the listing parses; cut to PATH_CHARS
MEGABYTE_PATH = "a" * 2**20  # above MAX_LISTED_DATA_BYTES: not parsed at all
# Dead letters a hostile sender could leave: (data, delivery count attribute, the id and path the
# listing must print). Expected fields are raw strings: each backslash below is printed as it is.
HOSTILE: list[tuple[bytes, str, str, str]] = [
    (  # clear the screen and colour the terminal; a window title and an OSC 8 hyperlink
        json.dumps(
            {
                "id": "\x1b[2J\x1b[31mred",
                "path": "\x1b]0;owned\x07\x1b]8;;https://evil.example/\x1b\\cat.jpg\x1b]8;;\x1b\\",
            }
        ).encode(),
        "5",
        r"\x1b[2J\x1b[31mred",
        r"\x1b]0;owned\x07\x1b]8;;https://evil.example/\x1b\\cat.jpg\x1b]8;;\x1b\\",
    ),
    (  # CR LF and tabs forging a row of their own
        json.dumps(
            {"id": "x\r\n4242\tforged\tuploads/forged.jpg\t5\t0s", "path": "uploads/x.jpg"}
        ).encode(),
        "5",
        r"x\r\n4242\tforged\tuploads/forged.jpg\t5\t0s",
        "uploads/x.jpg",
    ),
    (  # bidi overrides (CVE-2021-42574): "invoice\u202egpj.exe" displays as "invoiceexe.jpg"
        json.dumps({"id": "\u2067abc\u2069", "path": "invoice\u202egpj.exe"}).encode(),
        "5",
        r"\u2067abc\u2069",
        r"invoice\u202egpj.exe",
    ),
    (  # line separators (str.splitlines breaks on them), NUL, DEL, a lone surrogate
        b'{"id": "sep\\u2028ara\\u2029tor\\u0085", "path": "nul\\u0000del\\u007f\\ud800.jpg"}',
        "5",
        r"sep\u2028ara\u2029tor\x85",
        r"nul\x00del\x7f\ud800.jpg",
    ),
    (  # an id that is an object, shown as its JSON (whose own escapes are escaped again)
        json.dumps({"id": {"nested": ["\x1b[31m", 1, None]}, "path": "p.jpg"}).encode(),
        "5",
        r'{"nested": ["\\u001b[31m", 1, null]}',
        "p.jpg",
    ),
    (  # Pub/Sub's delivery count attribute, forged by whoever published to the dead-letter topic
        json.dumps({"id": "count", "path": "p.jpg"}).encode(),
        "5\x1b[8m\r\nhidden",
        "count",
        "p.jpg",
    ),
    (json.dumps({"id": "long", "path": LONG_PATH}).encode(), "5", "long", "(cut)"),
    (json.dumps({"id": "huge", "path": MEGABYTE_PATH}).encode(), "5", "-", "-"),
    (b'\xff\xfe{"id": "x", "path": "y"}', "5", "-", "-"),  # not UTF-8
    (b"not json {\x1b[2J", "5", "-", "-"),
    (b"[" * 5000, "5", "-", "-"),  # nested deeper than json.loads can go (RecursionError)
]
CUT = re.compile(r"(a*)\.\.\.\[\+(\d+) chars\]")


def shows_nothing_raw(line: str) -> bool:
    """No character in `line` that the terminal would obey, but the tabs between fields."""
    return not any(
        unicodedata.category(char) in redrive.ESCAPED_CATEGORIES and char != "\t" for char in line
    )


def test_hostile_dead_letters_are_listed_one_escaped_bounded_row_each_and_republished_unchanged(
    stack: Stack,
) -> None:
    """Terminal escapes, forged rows, bidi controls, a cut path, unreadable data: the dry run prints
    exactly one row per dead letter, every field escaped and within its cap; the real run then
    republishes every message byte for byte, attributes included."""
    expected = {}
    for data, deliveries, image_id, path in HOSTILE:
        attributes = {
            **DEAD_LETTER_ATTRIBUTES,
            redrive.DELIVERY_COUNT_ATTRIBUTE: deliveries,
            "note": "\x1b[2J kept as sent",
        }
        message_id = stack.publisher.publish(stack.dead_letter_topic, data, **attributes).result(
            timeout=30
        )
        expected[message_id] = (data, deliveries, image_id, path)

    exit_code, output = stack.run("--dry-run")
    assert exit_code == redrive.PASS, output
    lines = output.splitlines()
    assert all(shows_nothing_raw(line) for line in lines), output
    # The run's first line, the column header, one row per dead letter, the summary.
    assert len(lines) == len(HOSTILE) + 3, output
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[2:-1]}
    assert rows.keys() == expected.keys(), output
    for message_id, (_, deliveries, image_id, path) in expected.items():
        row = rows[message_id]
        assert len(row) == 5, row
        assert row[1] == image_id, row
        if path == "(cut)":
            assert len(row[2]) <= redrive.PATH_CHARS, row
            cut = CUT.fullmatch(row[2])
            assert cut, row[2]
            assert len(cut[1]) + int(cut[2]) == len(LONG_PATH), row[2]
        else:
            assert row[2] == path, row
        assert row[3] == (deliveries if deliveries == "5" else r"5\x1b[8m\r\nhidden"), row
        assert re.fullmatch(r"\d+s", row[4]), row

    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert f"moved {len(HOSTILE)} of {len(HOSTILE)}" in output, output
    republished = {
        message.data: dict(message.attributes)
        for message in drain(stack.subscriber, stack.probe_subscription)
    }
    assert republished == {
        data: {"note": "\x1b[2J kept as sent"} for data, _, _, _ in HOSTILE
    }  # byte for byte; only Pub/Sub's four dead-letter attributes dropped


def letter(data: bytes, **attributes: str) -> redrive.DeadLetter:
    return redrive.DeadLetter(
        ack_id="ack",
        message_id="17",
        data=data,
        attributes={redrive.DELIVERY_COUNT_ATTRIBUTE: "5", **attributes},
        published=datetime(2026, 1, 1, tzinfo=UTC),
    )


LATER = datetime(2026, 1, 1, 0, 1, 15, tzinfo=UTC)


def test_ordinary_ids_and_paths_are_listed_as_they_are() -> None:
    for body, image_id, path in [
        ({"id": "outage-0", "path": "uploads/outage-0.jpg"}, "outage-0", "uploads/outage-0.jpg"),
        ({"id": 42, "path": "fotos/ñandú ✓ 北京.jpg"}, "42", "fotos/ñandú ✓ 北京.jpg"),
        ({"id": "👩‍🚲"}, "👩\\u200d🚲", "-"),  # the zero-width joiner is Cf: shown as its escape
        ([1, 2], "-", "-"),
    ]:
        row = letter(json.dumps(body, ensure_ascii=False).encode()).listing_row(LATER)
        assert row == f"17\t{image_id}\t{path}\t5\t1m15s", row


def test_a_non_string_id_is_listed_as_its_json() -> None:
    for value, shown in [
        (None, "null"),
        (True, "true"),
        (1.5, "1.5"),
        ({"a": [1, "b"]}, '{"a": [1, "b"]}'),
        ("null", "null"),  # a string is shown as it is, without quotes
    ]:
        row = letter(json.dumps({"id": value, "path": "p"}).encode()).listing_row(LATER)
        assert row.split("\t")[1] == shown, row


def test_every_printed_field_is_cut_to_its_cap_with_a_visible_mark() -> None:
    long_id = "\x1b" * 5000  # each shown as the four characters \x1b
    row = letter(
        json.dumps({"id": long_id, "path": "p" * 10_000}).encode(),
        **{redrive.DELIVERY_COUNT_ATTRIBUTE: "9" * 1000},
    )
    message_id, image_id, path, deliveries, _ = (
        replace(row, message_id="7" * 1000).listing_row(LATER).split("\t")
    )
    assert len(message_id) <= redrive.MESSAGE_ID_CHARS
    assert re.fullmatch(r"7+\.\.\.\[\+\d+ chars\]", message_id), message_id
    assert len(image_id) <= redrive.IMAGE_ID_CHARS
    shown = re.fullmatch(r"((?:\\x1b)+)\.\.\.\[\+(\d+) chars\]", image_id)
    assert shown, image_id
    assert len(shown[1]) // 4 + int(shown[2]) == len(long_id), image_id
    assert len(path) <= redrive.PATH_CHARS
    assert re.fullmatch(r"p+\.\.\.\[\+\d+ chars\]", path), path
    assert len(deliveries) <= redrive.DELIVERIES_CHARS
    assert re.fullmatch(r"9+\.\.\.\[\+\d+ chars\]", deliveries), deliveries


def test_a_dead_letter_without_a_publish_time_is_listed_with_an_unknown_age() -> None:
    undated = replace(letter(b"{}"), published=None)
    assert undated.listing_row(LATER) == "17\t-\t-\t5\t-"


class HostilePublisher:
    """A publisher whose every republish fails with an error text meant for the terminal."""

    def publish(self, topic: str, data: bytes, **attributes: str) -> Any:
        from concurrent.futures import Future

        future: Future[str] = Future()
        future.set_exception(
            api_exceptions.ServiceUnavailable("\x1b[2J\r\nredrive OK: moved 9 of 9\u202e")
        )
        return future


def test_error_text_is_printed_escaped(stack: Stack) -> None:
    stack.dead_letter("fails")
    exit_code, output = stack.run(publisher=HostilePublisher())
    assert exit_code == redrive.FAIL, output
    assert all(shows_nothing_raw(line) for line in output.splitlines()), output
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED ")]
    assert failed.endswith(r": ServiceUnavailable: 503 \x1b[2J\r\nredrive OK: moved 9 of 9\u202e")
    assert "redrive FAILED: moved 0 of 1" in output, output


def test_without_older_than_a_dead_letter_is_moved_whatever_the_local_clock_says(
    stack: Stack,
) -> None:
    """An operator's clock five minutes behind Pub/Sub's makes every dead letter look published in
    the future; without --older-than that must not leave it on the subscription."""
    stack.dead_letter("skewed")
    out = io.StringIO()
    run = redrive.Redrive(
        redrive.Target(stack.dead_letter_subscription, stack.new_image_topic),
        redrive.Options(idle_seconds=2, poll_interval=0.1, lease_seconds=10),
        stack.publisher,
        stack.subscriber,
        out,
        clock=lambda: datetime.now(UTC) - timedelta(minutes=5),
    )
    assert run.run() == redrive.PASS, out.getvalue()
    assert "moved 1 of 1" in out.getvalue(), out.getvalue()
    assert image_ids(drain(stack.subscriber, stack.probe_subscription)) == ["skewed"]


# -- failures ---------------------------------------------------------------------------------


class FlakyPublisher:
    """A real publisher that fails the republish of the chosen image ids (UNAVAILABLE)."""

    def __init__(self, publisher: PublisherClient, failing: set[Any]) -> None:
        self.publisher = publisher
        self.failing = failing

    def publish(self, topic: str, data: bytes, **attributes: str) -> Any:
        from concurrent.futures import Future

        if json.loads(data)["id"] in self.failing:
            future: Future[str] = Future()
            future.set_exception(api_exceptions.ServiceUnavailable("injected"))
            return future
        return self.publisher.publish(topic, data, **attributes)


def test_a_failed_republish_is_not_acknowledged_and_exits_1(stack: Stack) -> None:
    for index in range(4):
        stack.dead_letter(index)
    exit_code, output = stack.run(publisher=FlakyPublisher(stack.publisher, {2}))
    assert exit_code == redrive.FAIL, output
    assert "moved 3 of 4" in output, output
    assert "1 failed" in output, output
    assert sorted(image_ids(drain(stack.subscriber, stack.probe_subscription))) == [0, 1, 3]
    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert "moved 1 of 1" in output, output
    assert image_ids(drain(stack.subscriber, stack.probe_subscription)) == [2]


def test_a_missing_topic_is_a_setup_error_and_acknowledges_nothing(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.dead_letter("kept")
    exit_code, output = stack.run("--topic", "no-such-topic")
    assert exit_code == redrive.USAGE_ERROR, output
    assert "cannot publish to" in capsys.readouterr().err
    exit_code, output = stack.run()
    assert exit_code == redrive.PASS, output
    assert "moved 1 of 1" in output, output


def test_a_missing_subscription_is_a_setup_error(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, output = stack.run("--subscription", "no-such-subscription")
    assert exit_code == redrive.USAGE_ERROR, output
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1, errors
    assert "cannot pull" in errors[0], errors


def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert redrive.main(["--project", "p", "--topic", "t"]) == redrive.USAGE_ERROR
    assert capsys.readouterr().err.strip() == (
        "redrive ERROR: --subscription is required "
        "(or stack output 'deadLetterSubscription' in --outputs-json)"
    )
    with pytest.raises(SystemExit) as raised:
        redrive.main(["--project", "p", "--subscription", "s", "--older-than", "soon"])
    assert raised.value.code == redrive.USAGE_ERROR
    assert "not a duration" in capsys.readouterr().err


def test_targets_come_from_the_stack_outputs(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "project": "my-project",
                "deadLetterSubscription": DEAD_LETTER,
                "newImageTopic": NEW_IMAGE,
            }
        )
    )
    target = redrive.resolve_target(redrive.parse_arguments(["--outputs-json", str(outputs)]))
    assert target == redrive.Target(
        subscription_path=f"projects/my-project/subscriptions/{DEAD_LETTER}",
        topic_path=f"projects/my-project/topics/{NEW_IMAGE}",
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("2h", 7200),
        ("1h30m", 5400),
        ("7d", 604800),
        ("45", 45),
        ("500ms", 0.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert redrive.parse_duration(text) == seconds


def test_ages_read_like_durations() -> None:
    assert [redrive.format_age(value) for value in (5, 125, 7260, 90000)] == [
        "5s",
        "2m05s",
        "2h01m",
        "1d01h",
    ]


# -- killed half way --------------------------------------------------------------------------

PROGRESS = re.compile(r"moved (\d+),")


def test_killed_mid_run_then_rerun_loses_nothing(stack: Stack) -> None:
    """SIGKILL after some republishes; the rerun moves the rest: every dead letter is republished
    at least once, and none is left on (or lost from) the dead-letter subscription."""
    total = 60
    for index in range(total):
        stack.dead_letter(index)
    environment = {**os.environ, "PUBSUB_EMULATOR_HOST": stack.host, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.redrive", *stack.arguments("--rate", "10", "--batch", "5")],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    moved_when_killed = 0
    deadline = time.monotonic() + 60
    try:
        for line in process.stderr:
            found = PROGRESS.search(line)
            if found and int(found.group(1)) >= 10:
                moved_when_killed = int(found.group(1))
                break
            assert time.monotonic() < deadline, "no progress within 60 s"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert 10 <= moved_when_killed < total

    first = image_ids(
        drain(
            stack.subscriber,
            stack.probe_subscription,
        )
    )
    assert moved_when_killed <= len(first) < total

    # The killed run's leases lapse within --lease-seconds (10 s); then a rerun takes the rest.
    time.sleep(11)
    rerun = subprocess.run(
        [sys.executable, "-m", "ops.redrive", *stack.arguments()],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == redrive.PASS, rerun.stdout + rerun.stderr
    second = image_ids(drain(stack.subscriber, stack.probe_subscription))
    assert set(first) | set(second) == set(range(total))  # at least once each
    assert (
        drain(
            stack.subscriber,
            stack.dead_letter_subscription,
        )
        == []
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_redrive_reads_the_stack_outputs(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.dead_letter("via-make")
    outputs = {
        "project": stack.project,
        "deadLetterSubscription": DEAD_LETTER,
        "newImageTopic": NEW_IMAGE,
        "imagesBucket": "unused",
    }
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.host)
    run = run_stack_target(
        "redrive", outputs, tmp_path, {"REDRIVE_FLAGS": " ".join(FAST)}, timeout=120
    )
    output = run.output
    assert run.returncode == 0, output
    assert "stack output --json --stack qa" in run.pulumi_calls
    assert f"projects/{stack.project}/subscriptions/{DEAD_LETTER}" in output
    assert "moved 1 of 1" in output, output
    assert image_ids(drain(stack.subscriber, stack.probe_subscription)) == ["via-make"]


def test_held_messages_keep_their_lease_past_the_ack_deadline_and_are_released_at_the_end(
    stack: Stack,
) -> None:
    """Messages it will not move (here: all too young) stay leased to the run beyond the
    subscription's 10 s ack deadline, so no other puller gets them meanwhile; when the run ends
    they are released and another puller gets them at once."""
    for index in range(3):
        stack.dead_letter(index)
    result: list[tuple[int, str]] = []
    runner = threading.Thread(
        target=lambda: result.append(
            stack.run("--older-than", "1h", "--idle-seconds", "30", "--lease-seconds", "10")
        )
    )
    runner.start()
    started = time.monotonic()
    time.sleep(1.0)  # the run has pulled them
    taken_while_running: list[pubsub_types.PubsubMessage] = []
    # Compete for them until 25 s in: well past the 10 s ack deadline (the emulator expires leases
    # lazily, a few seconds late), before the run's 30 s idle end.
    while time.monotonic() - started < 25:
        taken_while_running += drain(
            stack.subscriber,
            stack.dead_letter_subscription,
        )
    runner.join()
    [(exit_code, output)] = result
    assert exit_code == redrive.PASS, output
    assert "3 younger than --older-than" in output, output
    assert taken_while_running == []  # the leases were extended
    released = drain(
        stack.subscriber,
        stack.dead_letter_subscription,
    )
    assert sorted(image_ids(released)) == [0, 1, 2]
