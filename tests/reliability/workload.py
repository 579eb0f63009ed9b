"""A mixed workload of new-image messages with the terminal result each one deserves, and the check that
a run produced exactly those results (shared by the fault-injection and load tests)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.fakes.vision import CAT_LABELS, FakeImage, FakeVision
from tests.function.conftest import uri
from tests.reliability.conftest import SHAPES, Event, event

KINDS = (
    "bicycle",
    "cat",
    "bicycle",
    "missing",
    "not_found",
    "not_image",
    "foreign",
    "control_char",
    "no_path",
    "not_json",
    "no_id",
)
IMAGES = {
    "bicycle": FakeImage(),
    "cat": FakeImage(labels=CAT_LABELS),
    "not_found": FakeImage(error_code=5, error_message="Object not found."),
    "not_image": FakeImage(error_code=3, error_message="Bad image data."),
}


@dataclass(frozen=True)
class Expected:
    """The terminal result an input deserves; status None means no result (dropped: no usable id)."""

    status: str | None
    error_code: str | None = None
    matched: bool = False


EXPECTED = {
    "bicycle": Expected("labeled", matched=True),
    "cat": Expected("labeled"),
    "missing": Expected("failed", "IMAGE_UNREADABLE"),
    "not_found": Expected("failed", "IMAGE_NOT_FOUND"),
    "not_image": Expected("failed", "NOT_AN_IMAGE"),
    "foreign": Expected("failed", "FOREIGN_BUCKET"),
    "control_char": Expected("failed", "INVALID_PATH"),
    "no_path": Expected("failed", "MISSING_PATH"),
    "not_json": Expected(None),
    "no_id": Expected(None),
}


@dataclass(frozen=True)
class Case:
    kind: str
    image_id: int | str | None  # None when the message has no usable id
    message_id: str
    payload: Any
    expected: Expected


def make_cases(count: int, first_message_id: int = 9_000_000) -> list[Case]:
    """Good images, images Vision refuses, bad paths and unreadable messages, in a repeating mix."""
    made = []
    for number, kind in zip(range(count), itertools.cycle(KINDS), strict=False):
        image_id: int | str = number if number % 2 else f"image-{number}"
        path = f"uploads/{kind}-{number}.jpg"
        payload: Any = {"id": image_id, "path": path}
        if kind == "foreign":
            payload["path"] = f"gs://someone-elses-bucket/{path}"
        elif kind == "control_char":
            payload["path"] = f"uploads/{number}\u0007.jpg"
        elif kind == "no_path":
            del payload["path"]
        elif kind == "not_json":
            payload = b'{"id": 1, "path": '
        elif kind == "no_id":
            del payload["id"]
        expected = EXPECTED[kind]
        made.append(
            Case(
                kind,
                image_id if expected.status else None,
                str(first_message_id + number),
                payload,
                expected,
            )
        )
    return made


def register_images(vision: FakeVision, cases: Iterable[Case]) -> None:
    for case in cases:
        if case.kind in IMAGES:
            vision.add_image(uri(case.payload["path"]), IMAGES[case.kind])


def events(cases: Iterable[Case]) -> list[Event]:
    """Each case as a delivery, alternating push bodies and binary CloudEvents."""
    return [
        event(case.payload, SHAPES[index % 2], case.message_id, label=case.kind)
        for index, case in enumerate(cases)
    ]


def without_processed_at(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "processed_at"}


def check_terminal_results(cases: Iterable[Case], results: Iterable[dict[str, Any]]) -> int:
    """Assert every case got the result it deserves (or none), all copies of a result agree apart from
    processed_at, and nothing else was published; return the number of duplicate results."""
    grouped: dict[int | str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        grouped[result["id"]].append(result)
    cases = list(cases)
    expected_ids = {case.image_id for case in cases if case.image_id is not None}
    assert set(grouped) == expected_ids, (
        f"ids without a result: {sorted(map(str, expected_ids - set(grouped)))[:10]}; "
        f"results nobody asked for: {sorted(map(str, set(grouped) - expected_ids))[:10]}"
    )
    duplicates = 0
    for case in cases:
        if case.image_id is None:
            continue
        found = grouped[case.image_id]
        duplicates += len(found) - 1
        first = found[0]
        assert all(without_processed_at(other) == without_processed_at(first) for other in found), (
            f"{case.kind} {case.image_id}: copies of the result disagree: {found}"
        )
        assert first["status"] == case.expected.status, (case, first)
        assert (first.get("error") or {}).get("code") == case.expected.error_code, (case, first)
        assert first["match"]["matched"] is case.expected.matched, (case, first)
        assert first["source_message_id"] == case.message_id, (case, first)
    return duplicates
