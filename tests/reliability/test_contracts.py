"""The JSON Schemas in contracts/ are valid, strict enough to mean something, what the function really
publishes, and what docs/contract.md (and the README's examples) say."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.cloud import vision_v1
from google.pubsub_v1 import types as pubsub_types

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import FakeImage
from tests.fakes.contracts import (
    IMAGE_LABELED,
    NEW_IMAGE,
    ContractWatch,
    problems,
    schema,
    validator,
)
from tests.function.conftest import TOPIC_PATH, uri
from tests.reliability.conftest import event, running_stack

REPOSITORY = Path(__file__).resolve().parents[2]
CONTRACT_PAGE = REPOSITORY / "docs" / "contract.md"

LABELED: dict[str, Any] = {
    "schema_version": "1.0",
    "id": 1,
    "path": "image-01.jpg",
    "uri": "gs://test-images/image-01.jpg",
    "status": "labeled",
    "labels": [{"description": "Bicycle", "score": 0.97, "mid": "/m/0199g", "topicality": 0.97}],
    "match": {
        "matched": True,
        "targets": ["Bicycle"],
        "threshold": 0.5,
        "label": "Bicycle",
        "score": 0.97,
        "source": "label",
    },
    "source_message_id": "4242",
    "processed_at": "2026-11-27T10:00:00.123Z",
}
FAILED: dict[str, Any] = {
    **LABELED,
    "status": "failed",
    "labels": [],
    "match": {
        "matched": False,
        "targets": ["Bicycle"],
        "threshold": 0.5,
        "label": None,
        "score": None,
        "source": None,
    },
    "error": {"code": "IMAGE_UNREADABLE", "message": "Error opening file"},
}


def contract_section() -> str:
    return CONTRACT_PAGE.read_text("utf-8")


def json_examples(page: Path) -> list[Any]:
    return [
        json.loads(block)
        for block in re.findall(r"```json\n(.*?)```", page.read_text("utf-8"), re.S)
    ]


def property_names(node: object) -> set[str]:
    """Every property name a schema defines, at any depth."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                names |= set(value)
            names |= property_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= property_names(item)
    return names


def error_codes() -> list[str]:
    codes: list[str] = schema(IMAGE_LABELED)["properties"]["error"]["properties"]["code"]["enum"]
    return codes


@pytest.mark.parametrize("name", [NEW_IMAGE, IMAGE_LABELED])
def test_each_contract_is_a_valid_draft_2020_12_schema(name: str) -> None:
    assert schema(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator(name)  # check_schema raises on an invalid schema


@pytest.mark.parametrize("name", [NEW_IMAGE, IMAGE_LABELED])
def test_every_property_of_the_schemas_is_documented_in_the_contract_page(name: str) -> None:
    section = contract_section()
    missing = [
        prop
        for prop in sorted(property_names(schema(name)))
        if not re.search(rf"[`\"]{re.escape(prop)}[`\":]", section)
    ]
    assert missing == [], f"docs/contract.md does not mention {missing}"


def test_every_error_code_of_the_result_schema_is_documented_in_the_contract_page() -> None:
    section = contract_section()
    assert [code for code in error_codes() if f"`{code}`" not in section] == []


@pytest.mark.parametrize("page", ["README.md", "docs/contract.md"])
def test_the_contract_examples_validate_against_the_schemas(page: str) -> None:
    blocks = json_examples(REPOSITORY / page)
    requests = [block for block in blocks if set(block) <= {"id", "path"}]
    results = [block for block in blocks if "status" in block]
    assert requests, f"{page} shows no new-image example"
    assert results, f"{page} shows no result example"
    assert len(requests) + len(results) == len(blocks), f"{page} has a JSON block of neither kind"
    for request in requests:
        assert problems(NEW_IMAGE, request) == [], request
    for result in results:
        assert problems(IMAGE_LABELED, result) == [], result


def test_the_contract_page_shows_a_labeled_and_a_failed_result() -> None:
    statuses = {block["status"] for block in json_examples(CONTRACT_PAGE) if "status" in block}
    assert statuses == {"labeled", "failed"}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"extra": 1}, "an unknown field"),
        ({"status": "done"}, "an unknown status"),
        ({"id": True}, "a boolean id"),
        ({"id": ""}, "an empty id"),
        ({"uri": "https://storage.googleapis.com/b/x"}, "a uri that is not gs://"),
        ({"processed_at": "2026-11-27 10:00:00"}, "a time that is not RFC 3339 UTC"),
        ({"error": {"code": "IMAGE_UNREADABLE", "message": "x"}}, "an error on a labeled result"),
        ({"match": {**LABELED["match"], "label": None}}, "a match without its label"),
        ({"schema_version": "2.0"}, "another schema version"),
    ],
)
def test_the_result_schema_refuses_what_the_contract_does_not_allow(
    change: dict[str, Any], why: str
) -> None:
    assert problems(IMAGE_LABELED, LABELED) == []
    assert problems(IMAGE_LABELED, {**LABELED, **change}) != [], why


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"error": None}, "a failed result without error"),
        ({"labels": LABELED["labels"]}, "labels on a failed result"),
        ({"match": LABELED["match"]}, "a failed result that matched"),
        ({"error": {"code": "SOMETHING_ELSE", "message": "x"}}, "an undocumented error code"),
    ],
)
def test_a_failed_result_must_say_why_and_nothing_else(change: dict[str, Any], why: str) -> None:
    assert problems(IMAGE_LABELED, FAILED) == []
    broken = {key: value for key, value in {**FAILED, **change}.items() if value is not None}
    assert problems(IMAGE_LABELED, broken) != [], why


REVIEWED: dict[str, Any] = {
    **LABELED,
    "match": {**FAILED["match"], "review_threshold": 0.3},
    "decision": "review",
}


@pytest.mark.parametrize(
    ("result", "why"),
    [
        ({**LABELED, "decision": "accept"}, "a decision without its review_threshold"),
        ({**REVIEWED, "decision": "maybe"}, "an unknown decision"),
        ({**REVIEWED, "decision": "accept"}, "accept without a match"),
        ({**LABELED, "match": {**LABELED["match"], "review_threshold": 0.3}}, "review on a match"),
        (
            {
                **LABELED,
                "match": {**LABELED["match"], "review_threshold": 0.3},
                "decision": "reject",
            },
            "reject on a match",
        ),
        ({**FAILED, "match": REVIEWED["match"], "decision": "review"}, "a failure sent to review"),
        (
            {**REVIEWED, "match": {**REVIEWED["match"], "reason": "UNSAFE_CONTENT"}},
            "unsafe content sent to review",
        ),
    ],
)
def test_the_result_schema_keeps_decision_consistent_with_the_verdict(
    result: dict[str, Any], why: str
) -> None:
    assert problems(IMAGE_LABELED, REVIEWED) == []
    assert (
        problems(IMAGE_LABELED, {**FAILED, "match": REVIEWED["match"], "decision": "reject"}) == []
    )
    assert problems(IMAGE_LABELED, result) != [], why


@pytest.mark.parametrize(
    "request_data",
    [
        {"id": 1},
        {"path": "a.jpg"},
        {"id": 1.5, "path": "a.jpg"},
        {"id": 1, "path": ""},
        {"id": 1, "path": "a\u0000.jpg"},
        {"id": 1, "path": "a\u202e.jpg"},
        {"id": 2**63, "path": "a.jpg"},
        [1, "a.jpg"],
    ],
)
def test_the_new_image_schema_refuses_what_the_function_refuses(request_data: object) -> None:
    assert problems(NEW_IMAGE, request_data) != []


@pytest.fixture
def stack_with_every_feature() -> Iterator[Any]:
    with running_stack(
        VISION_FEATURES="LABEL_DETECTION,OBJECT_LOCALIZATION,SAFE_SEARCH_DETECTION"
    ) as stack:
        yield stack


def test_results_with_objects_and_safe_search_honour_the_schema(
    stack_with_every_feature: Any, contract_watch: ContractWatch
) -> None:
    stack = stack_with_every_feature
    stack.vision.add_image(uri("bike.jpg"), FakeImage(objects=[("Bicycle", 0.9)]))
    unsafe = FakeImage(safe_search={"violence": vision_v1.Likelihood.VERY_LIKELY})
    stack.vision.add_image(uri("unsafe.jpg"), unsafe)

    for number, path in enumerate(["bike.jpg", "unsafe.jpg", "missing.jpg"]):
        assert stack.deliver(event({"id": number, "path": path}, "push", str(number))) == 200

    results = stack.results()
    assert [result["status"] for result in results] == ["labeled", "labeled", "failed"]
    assert "objects" in results[0]
    assert "safe_search" in results[0]
    assert results[1]["match"]["reason"] == "UNSAFE_CONTENT"
    for result in results:
        assert problems(IMAGE_LABELED, result) == [], result
    assert contract_watch.new_violations() == []


def test_the_contract_watch_sees_every_fake_and_reports_a_result_that_breaks_the_contract(
    contract_watch: ContractWatch,
) -> None:
    fake = FakePubSub()  # created here, outside any fixture: the watch still sees it
    broken = json.dumps({**LABELED, "status": "done"}).encode()
    with fake.server(), grpc.insecure_channel(fake.host) as channel:
        publish = channel.unary_unary(
            "/google.pubsub.v1.Publisher/Publish",
            request_serializer=pubsub_types.PublishRequest.serialize,
            response_deserializer=pubsub_types.PublishResponse.deserialize,
        )
        message = pubsub_types.PubsubMessage(
            data=broken, attributes={"id": "1", "status": "done", "matched": "true"}
        )
        publish(pubsub_types.PublishRequest(topic=TOPIC_PATH, messages=[message]), timeout=10)
    del fake  # a fake the test let go of is still checked

    violations = contract_watch.new_violations()  # consumed here, so this test's teardown passes

    assert len(violations) == 1
    assert "status" in violations[0]
    assert "'done'" in violations[0]
