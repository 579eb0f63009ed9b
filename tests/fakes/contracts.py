"""The message contracts in contracts/ as validators, and a watch that checks every published result.

`ContractWatch` is hooked into every `FakePubSub` by tests/conftest.py: after each test, each message
published to any fake since the previous check is validated against its topic's schema, so a result
that breaks the contract fails the test that produced it, whatever that test asserts itself.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import (  # type: ignore[import-untyped]  # no stubs in requirements.txt
    Draft202012Validator,
    FormatChecker,
)

from bench.fakes.pubsub import FakePubSub, Published

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
NEW_IMAGE = "new-image"
IMAGE_LABELED = "image-labeled"
# Messages on this topic are requests (what the User-Service publishes); anything else is a result.
NEW_IMAGE_TOPIC_ID = "user-service-new-image"


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONTRACTS / f"{name}.schema.json").read_text("utf-8"))
    return loaded


@cache
def validator(name: str) -> Draft202012Validator:
    contract = schema(name)
    Draft202012Validator.check_schema(contract)
    return Draft202012Validator(contract, format_checker=FormatChecker())


def problems(name: str, instance: object) -> list[str]:
    """Every way `instance` breaks the named contract, as readable lines (empty when it is valid)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator(name).iter_errors(instance)
    ]


def message_problems(message: Published) -> list[str]:
    """Why a published message breaks its topic's contract: data must be UTF-8 JSON matching it."""
    name = NEW_IMAGE if message.topic.endswith(f"/topics/{NEW_IMAGE_TOPIC_ID}") else IMAGE_LABELED
    try:
        data = json.loads(message.data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return [f"data is not UTF-8 JSON: {error}"]
    found = problems(name, data)
    if name == IMAGE_LABELED and isinstance(data, dict):
        found += attribute_problems(data, message.attributes)
    return found


def attribute_problems(result: dict[str, Any], attributes: dict[str, str]) -> list[str]:
    """The attributes subscribers filter on must agree with the data."""
    expected = {
        "id": str(result.get("id")),
        "status": result.get("status"),
        "matched": "true" if (result.get("match") or {}).get("matched") else "false",
    }
    if "decision" in result:  # only with a review band (REVIEW_MIN_SCORE)
        expected["decision"] = result["decision"]
    if attributes != expected:
        return [f"attributes {attributes!r} do not agree with the data, expected {expected!r}"]
    return []


class ContractWatch:
    """Remembers every FakePubSub created and validates what was published to them since last asked."""

    def __init__(self) -> None:
        # Strong references: a fake a test dropped before its teardown must still be checked.
        # Each entry is a fake and how many of its messages were checked already.
        self._fakes: list[tuple[FakePubSub, list[int]]] = []
        self._lock = threading.Lock()

    def observe(self, fake: FakePubSub) -> None:
        with self._lock:
            self._fakes.append((fake, [0]))

    def new_violations(self) -> list[str]:
        """Problems of messages published since the previous call, one line per message."""
        violations = []
        with self._lock:
            fakes = list(self._fakes)
        for fake, checked in fakes:
            messages = fake.messages()
            start, checked[0] = checked[0], len(messages)
            for message in messages[start:]:
                found = message_problems(message)
                if found:
                    violations.append(
                        f"{message.topic} message {message.message_id} "
                        f"{message.data[:300]!r}: {'; '.join(found)}"
                    )
        return violations
