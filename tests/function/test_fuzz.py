"""The message parser, fuzzed directly (no HTTP, no fakes: hundreds of inputs a second): `labeling.message.parse_event`
either returns a request for a valid object of our bucket answered by a valid id, or raises BadMessage
with a specific code whose message quotes nothing it refused; and it agrees with the new-image contract.

The same properties through the real functions-framework app are in tests/reliability/
test_hostile_input.py. FUZZ_EXAMPLES runs a longer campaign (`make fuzz`); fuzz_atheris.py drives these
properties with a coverage-guided fuzzer.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from labeling.errors import BadMessage
from labeling.message import PUBSUB_EVENT_TYPE, ImageRequest, parse_event, source_message_id
from tests.fakes.contracts import NEW_IMAGE, problems
from tests.fakes.environment import BUCKET
from tests.function.fuzzing import (
    DROPPED_CODES,
    PATH_CODES,
    fuzz_settings,
    holds_refused,
    id_is_valid,
    ids,
    json_values,
    nasty_text,
    object_name_in_bucket,
    paths,
    utf8_size,
)

many = fuzz_settings(400)

# Message data: bytes as published (any), JSON of any shape, or objects with hostile ids and paths.
payloads = st.fixed_dictionaries(
    {"id": ids, "path": paths},
    optional={"extra": json_values},
)
message_data = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode("utf-8", "surrogatepass")),
    payloads.map(lambda value: json.dumps(value).encode("utf-8", "surrogatepass")),
    # The same, written with ensure_ascii=False: raw UTF-8, lone surrogates as invalid bytes.
    payloads.map(
        lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ),
)
encoded_data = st.one_of(
    message_data.map(lambda data: base64.b64encode(data).decode()),
    message_data.map(lambda data: base64.urlsafe_b64encode(data).decode()),
    nasty_text,
    json_values,
)
messages = st.one_of(
    st.fixed_dictionaries(
        {"data": encoded_data},
        optional={"messageId": json_values, "message_id": json_values, "attributes": json_values},
    ),
    json_values,
)
events = st.one_of(
    st.fixed_dictionaries({"message": messages}, optional={"subscription": json_values}),
    json_values,
)
event_types = st.one_of(st.just(PUBSUB_EVENT_TYPE), json_values)


def parse(event_type: object, data: object) -> ImageRequest | BadMessage:
    try:
        return parse_event(event_type, data, BUCKET, "m-1")
    except BadMessage as error:
        return error


@many
@given(event_type=event_types, data=events)
def test_any_event_is_a_request_for_our_bucket_or_a_specific_refusal(
    event_type: object, data: object
) -> None:
    outcome = parse(event_type, data)

    if isinstance(outcome, ImageRequest):
        assert id_is_valid(outcome.image_id)
        assert object_name_in_bucket(outcome.path) == outcome.object_name
        assert outcome.uri == f"gs://{BUCKET}/{outcome.object_name}"
        return
    if outcome.image_id is None:
        assert outcome.code in DROPPED_CODES
    else:
        assert id_is_valid(outcome.image_id)
        assert outcome.code in PATH_CODES
    # The message is logged, and published with a failed result: it quotes nothing refused.
    assert outcome.message
    assert not holds_refused(outcome.message), outcome.message
    assert utf8_size(outcome.message) is not None


def schema_cannot_tell(image_id: Any, path: Any) -> bool:
    """Whether a rule new-image.schema.json says it cannot state applies: an integer written as a
    float (1.0), UTF-8 byte lengths (the schema counts characters), lone surrogates, '.' and '..'
    segments, the bucket."""
    if isinstance(image_id, float):
        return True
    if isinstance(image_id, str) and (utf8_size(image_id) or 1025) > 1024:
        return True
    if not isinstance(path, str):
        return False
    name = path
    if path[:5].lower() == "gs://":
        bucket, _, name = path[5:].partition("/")
        if bucket != BUCKET:
            return True
    return (utf8_size(name) or 1025) > 1024 or bool({".", ".."} & set(name.split("/")))


@many
@given(image_id=ids, path=paths, extra=st.dictionaries(nasty_text, json_values, max_size=2))
def test_the_parser_agrees_with_the_new_image_contract(
    image_id: Any, path: Any, extra: dict[str, Any]
) -> None:
    """What the schema refuses the function refuses; what it accepts the function accepts, but for
    the rules the schema says it cannot state."""
    payload = {**extra, "id": image_id, "path": path}
    data = json.dumps(payload).encode("utf-8", "surrogatepass")
    event = {"message": {"data": base64.b64encode(data).decode(), "messageId": "1"}}

    accepted = isinstance(parse(PUBSUB_EVENT_TYPE, event), ImageRequest)
    valid = problems(NEW_IMAGE, payload) == []

    if accepted:
        assert valid, problems(NEW_IMAGE, payload)
    elif valid:
        assert schema_cannot_tell(image_id, path), payload


@many
@given(event_id=json_values, data=events)
def test_a_message_id_is_echoed_only_when_it_could_be_an_id(event_id: object, data: object) -> None:
    found = source_message_id(event_id, data)

    assert found is None or (
        isinstance(found, str)
        and found
        and not holds_refused(found)
        and (utf8_size(found) or 1025) <= 1024
    )
