"""Fuzzing what redrive reads of a dead letter (issue 17's fuzz campaign): whatever a dead letter holds
(any data bytes: JSON of any shape, hostile ids and paths, invalid UTF-8, deep nesting, sizes around
the parse limit; any attributes and delivery count; any publish time or none), its listing row is
computed without raising, is exactly one line of five fields, holds no character a terminal obeys,
and keeps every field within its cap. `printable` shows everything it keeps, reversibly, and cuts
only what does not fit.

Pure functions, no emulator: `make test` runs a few hundred derandomized examples per property (the
same every run, about a second). FUZZ_EXAMPLES sets the count for a longer campaign, drawn afresh
each run, e.g. `FUZZ_EXAMPLES=100000 .venv/bin/python -m pytest tests/ops/test_redrive_fuzz.py`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ops import redrive

_CAMPAIGN = os.environ.get("FUZZ_EXAMPLES", "").strip()
FUZZ = settings(
    max_examples=int(_CAMPAIGN) if _CAMPAIGN else 300,
    deadline=None,
    derandomize=not _CAMPAIGN,  # CI sees the same examples every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    print_blob=True,
)
# (field, its cap): the five columns of a listing row. An age is at most "3652058d23h" (year 1 to
# 9999, the range of a protobuf Timestamp).
COLUMNS = (
    ("message_id", redrive.MESSAGE_ID_CHARS),
    ("id", redrive.IMAGE_ID_CHARS),
    ("path", redrive.PATH_CHARS),
    ("deliveries", redrive.DELIVERIES_CHARS),
    ("age", 11),
)
CUT = re.compile(r"(.*)\.\.\.\[\+(\d+) chars\]", re.DOTALL)

# What a terminal obeys or a reader misreads, alone and in the sequences attackers use.
HOSTILE_PIECES = [
    *"\x00\x07\x08\t\n\x0b\x0c\r\x1b\x1c\x1d\x1e\x7f\x85\x9b\xa0\\",
    *"\u061c\u200b\u200d\u200e\u202a\u202e\u2028\u2029\u2066\u2069\ufeff\ufffe",
    "\ud800",  # lone surrogates: json.loads makes them of "\ud800", and print cannot encode them
    "\udfff",
    "\U000e0041",  # a tag character (Cf)
    "\ue000",  # private use
    "\U0010ffff",
    "\u0378",  # unassigned
    "\x1b[2J",
    "\x1b[31m",
    "\x1b]0;title\x07",
    "\x1b]8;;https://evil.example/\x1b\\",
    "\r\n4242\tforged\tuploads/x.jpg\t5\t0s",
    "...[+9 chars]",  # the cut marker, forged
    "é",
    "北京",
    "👩\u200d🚲",
]
any_characters = st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates too
hostile_text = any_characters | st.lists(
    st.sampled_from(HOSTILE_PIECES) | any_characters, max_size=12
).map("".join)
long_text = st.builds(
    lambda piece, count: piece * count,
    st.sampled_from(["a", "\x1b", "é", "\u202e", "\ud800", "👩", "\\"]),
    st.integers(0, 3000) | st.sampled_from([20_000, 70_000]),
)
texts = hostile_text | long_text
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and Infinity, which json writes and reads
    | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
bodies = st.fixed_dictionaries({}, optional={"id": json_values, "path": json_values, "x": texts})


def encoded(value: Any, ensure_ascii: bool) -> bytes:
    """JSON as a sender may write it; with ensure_ascii=False a lone surrogate is invalid UTF-8."""
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.builds(encoded, bodies, st.booleans())))
    for _ in range(draw(st.integers(1, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


def around_the_limit(extra: int) -> bytes:
    """A valid message `extra` bytes longer than the largest the listing parses."""
    frame = len(encoded({"id": "x", "path": ""}, True))
    return encoded({"id": "x", "path": "a" * (redrive.MAX_LISTED_DATA_BYTES - frame + extra)}, True)


data = st.one_of(
    st.binary(max_size=300),
    st.builds(encoded, bodies, st.booleans()),
    st.builds(encoded, json_values, st.booleans()),
    mutated(),
    st.integers(-2, 2).map(around_the_limit),
    st.just(encoded({"id": "x", "path": "a" * 2**20}, True)),  # a 1 MB path
    st.builds(
        lambda prefix, depth: prefix + b"[" * depth,  # RecursionError in json.loads
        st.sampled_from([b"", b'{"id": ', b'{"id": "x", "path": ']),
        st.integers(1, 3000) | st.sampled_from([1000, 5000, 60_000, 200_000]),
    ),
    # json.loads refuses an int of more than 4,300 digits (ValueError)
    st.integers(4200, 4400).map(lambda digits: b'{"id": ' + b"9" * digits + b"}"),
    st.builds(lambda depth: b'{"id": ' + b"[" * depth + b"]" * depth + b"}", st.integers(1, 1200)),
)
attributes = st.dictionaries(texts, texts, max_size=3).flatmap(
    lambda others: st.one_of(
        st.just(others),
        texts.map(lambda count: {**others, redrive.DELIVERY_COUNT_ATTRIBUTE: count}),
        st.integers(0, 10**9).map(
            lambda count: {**others, redrive.DELIVERY_COUNT_ATTRIBUTE: str(count)}
        ),
    )
)
times = st.datetimes(timezones=st.just(UTC))
dead_letters = st.builds(
    redrive.DeadLetter,
    ack_id=st.just("ack"),
    message_id=texts | st.integers(0, 2**63).map(str),
    data=data,
    attributes=attributes,
    published=st.none() | times,
)


def obeyed(text: str) -> list[str]:
    """The characters of `text` a terminal would act on, or a reader misread."""
    return [char for char in text if unicodedata.category(char) in redrive.ESCAPED_CATEGORIES]


def unescape(shown: str) -> str:
    """The text `printable` showed: its escapes are Python's (non-ASCII goes through as \\u)."""
    return shown.encode("ascii", "backslashreplace").decode("unicode_escape")


@FUZZ
@given(letter=dead_letters, now=times)
def test_any_dead_letter_lists_as_one_line_of_capped_escaped_fields(
    letter: redrive.DeadLetter, now: datetime
) -> None:
    row = letter.listing_row(now)
    assert row.splitlines() == [row]
    fields = row.split("\t")
    assert len(fields) == len(COLUMNS), row
    for (column, cap), field in zip(COLUMNS, fields, strict=True):
        assert not obeyed(field), (column, field)
        assert len(field) <= cap, (column, len(field))
    row.encode("utf-8")  # printable: no lone surrogate left
    if letter.published is None:
        assert fields[4] == "-"


@FUZZ
@given(text=texts, limit=st.integers(32, 300))
def test_printable_shows_what_it_keeps_reversibly_and_cuts_only_what_does_not_fit(
    text: str, limit: int
) -> None:
    shown = redrive.printable(text, limit)
    assert len(shown) <= limit
    assert not obeyed(shown), shown
    assert shown.splitlines() == ([shown] if shown else [])
    whole = redrive.printable(text, sys.maxsize)
    assert unescape(whole) == text
    if len(whole) <= limit:
        assert shown == whole
        return
    cut = CUT.fullmatch(shown)
    assert cut, shown
    kept = len(text) - int(cut[2])
    assert 0 <= kept < len(text)
    assert unescape(cut[1]) == text[:kept]
    # As much as fits beside the marker: one more character, and one fewer cut, would not have.
    if int(cut[2]) > 1:
        next_shown = redrive.printable(text[kept], sys.maxsize)
        marker = f"...[+{int(cut[2]) - 1} chars]"
        assert len(cut[1]) + len(next_shown) + len(marker) > limit


@FUZZ
@given(
    image_id=texts | st.integers() | st.none() | st.lists(st.integers(), max_size=3),
    path=texts,
    ensure_ascii=st.booleans(),
)
@example(image_id=None, path="\ud800\udc00", ensure_ascii=True)  # read as "\U00010000"
def test_a_readable_message_lists_its_id_and_path(
    image_id: Any, path: str, ensure_ascii: bool
) -> None:
    """Escaping never loses what was sent: unescaped, the row's id and path are the message's
    (a non-string id as its JSON), up to a cut."""
    data = encoded({"id": image_id, "path": path}, ensure_ascii)
    letter = redrive.DeadLetter("ack", "1", data, {}, None)
    _, shown_id, shown_path, deliveries, _ = letter.listing_row(datetime.now(UTC)).split("\t")
    assert deliveries == "-"
    if len(data) > redrive.MAX_LISTED_DATA_BYTES or (
        not ensure_ascii
        and any(unicodedata.category(char) == "Cs" for char in path + str(image_id))
    ):
        assert (shown_id, shown_path) == ("-", "-")  # too large to parse, or invalid UTF-8
        return
    # What the message says, read as JSON: not always the Python values it was written from, as an
    # escaped surrogate pair ("\ud800\udc00") reads as one character (the campaign's one finding,
    # in this oracle).
    said = json.loads(data)
    said_id = (
        said["id"] if isinstance(said["id"], str) else json.dumps(said["id"], ensure_ascii=False)
    )
    for sent, shown in ((said_id, shown_id), (said["path"], shown_path)):
        cut = CUT.fullmatch(shown)
        if unescape(shown) != sent:
            assert cut, shown
            assert unescape(cut[1]) == sent[: len(sent) - int(cut[2])]
