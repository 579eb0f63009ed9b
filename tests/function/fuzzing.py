"""What the fuzz properties share: the hypothesis settings, the hostile values they draw, and an
independent statement of what a valid id and object name are.

`make test` runs a few hundred derandomized examples per property (the same every run). FUZZ_EXAMPLES
sets the count for a longer campaign (`make fuzz`), drawn afresh each run: hypothesis prints the seed
and the example of any failure.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.fakes.contracts import IMAGE_LABELED, schema
from tests.fakes.environment import BUCKET

_CAMPAIGN = os.environ.get("FUZZ_EXAMPLES", "").strip()


def fuzz_settings(examples: int) -> settings:
    """`examples` in `make test`, FUZZ_EXAMPLES in a campaign."""
    return settings(
        max_examples=int(_CAMPAIGN) if _CAMPAIGN else examples,
        deadline=None,
        derandomize=not _CAMPAIGN,  # CI sees the same examples every run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        print_blob=True,
    )


BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Every code a message can be dropped with (an ERROR line, no result), and the codes a failed result
# can carry (from the contract).
DROPPED_CODES = frozenset(
    {
        "UNSUPPORTED_EVENT_TYPE",
        "MALFORMED_ENVELOPE",
        "EMPTY_MESSAGE",
        "INVALID_BASE64",
        "INVALID_ENCODING",
        "INVALID_JSON",
        "NOT_AN_OBJECT",
        "MISSING_ID",
        "INVALID_ID",
        "MESSAGE_TOO_LARGE",
    }
)
FAILED_CODES = frozenset(schema(IMAGE_LABELED)["properties"]["error"]["properties"]["code"]["enum"])
PATH_CODES = frozenset({"MISSING_PATH", "INVALID_PATH", "FOREIGN_BUCKET"})


# Format characters that disguise a name (issue 17 review): deprecated shaping, interlinear
# annotation, the byte-order mark.
DISGUISING = "\u206a\u206b\u206c\u206d\u206e\u206f\ufff9\ufffa\ufffb\ufeff"
BLANKS = "\u115f\u1160\u3164\uffa0\u2800"


def refused(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Cc", "Zl", "Zp")
        or char in BIDI + DISGUISING
        or 0xFDD0 <= code <= 0xFDEF
        or code % 0x10000 in (0xFFFE, 0xFFFF)
    )


def visible(char: str) -> bool:
    return not (
        char.isspace()
        or char in BLANKS
        or unicodedata.category(char) in ("Cf", "Mn", "Me", "Cc", "Zl", "Zp")
    )


def holds_refused(text: str) -> bool:
    return any(refused(char) for char in text)


def utf8_size(text: str) -> int | None:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        return None


def id_is_valid(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, str):
        size = utf8_size(value)
        return (
            size is not None
            and size <= 1024
            and any(map(visible, value))
            and not holds_refused(value)
        )
    return False


def object_name_is_valid(name: str) -> bool:
    size = utf8_size(name)
    return (
        size is not None
        and 1 <= size <= 1024
        and not holds_refused(name)
        and any(map(visible, name))
        and not {".", ".."} & set(name.split("/"))
    )


def object_name_in_bucket(path: Any) -> str | None:
    """The object name a path names in our bucket, if it is a valid one."""
    if not isinstance(path, str):
        return None
    name = path
    if path[:5].lower() == "gs://":
        bucket, _, name = path[5:].partition("/")
        if bucket != BUCKET:
            return None
    return name if object_name_is_valid(name) else None


# -- strategies -----------------------------------------------------------------------------------

SPECIAL_CHARACTERS = [
    *BIDI,
    "\x00",
    "\x1b",
    "\n",
    "\r",
    "\x1f",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\u200b",
    "\u3164",
    "\u0301",
    "\ufdd0",
    "\uffff",
    "\U0001fffe",
    *DISGUISING,
    "/",
    ".",
    '"',
    "\\",
    "\ud800",
]
nasty_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL_CHARACTERS)),
    max_size=40,
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=10**30),
    st.integers(max_value=-(2**63) - 1, min_value=-(10**30)),
    nasty_text,
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=30),
    st.just(""),
    st.just(" \t"),
    st.text(min_size=1000, max_size=1100),
    st.builds(lambda n: "é" * n, st.sampled_from([511, 512, 513])),
    st.floats(),
    st.booleans(),
    st.none(),
    json_values,
)
object_names = st.one_of(
    nasty_text,
    st.just("uploads/good.jpg"),
    st.text(alphabet="ab/", min_size=1000, max_size=1030),
    st.builds(lambda n: "a" * n, st.sampled_from([1023, 1024, 1025, 5000])),
    st.builds(lambda n: "é" * n, st.sampled_from([511, 512, 513, 2500])),
    st.sampled_from(["..", ".", "a/../b", "./x", "a//b", "a/", "/a", "%2e%2e/x", "a\\..\\b"]),
)
paths = st.one_of(
    object_names,
    st.builds(lambda name: f"gs://{BUCKET}/{name}", object_names),
    st.builds(
        "{}{}".format,
        st.sampled_from(
            [
                "gs://",
                "GS://",
                f"gs://{BUCKET}",
                f"gs://{BUCKET}.evil.com/",
                f"gs://evil-{BUCKET}/",
                f"gs://{BUCKET.upper()}/",
                f"gs://{BUCKET}@evil/",
                f"gs://{BUCKET}%2f/",
                f"gs:///{BUCKET}/",
                "gs://other-bucket/",
                f"gs://other-bucket/{BUCKET}/",
                f"gs://{BUCKET}/gs://other-bucket/",
                f" gs://{BUCKET}/",
                f"https://storage.googleapis.com/{BUCKET}/",
                f"//{BUCKET}/",
                f"gs://\u202e{BUCKET}/",
                f"gs://{BUCKET}\x00/",
            ]
        ),
        object_names,
    ),
    st.builds(lambda n: f"gs://{BUCKET}/" + "p" * n, st.sampled_from([1024, 1025, 5000])),
    json_values,
)
shapes = st.sampled_from(["push", "cloudevent"])
