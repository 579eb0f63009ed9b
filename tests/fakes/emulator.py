"""Google's real Pub/Sub emulator for tests: one per session, shared, isolated per test by project.

The emulator keeps every project apart, so each test gets a project id of its own instead of a
restart (restarts cost 2-3 s). Tests that stop or restart Pub/Sub use `private_pubsub_emulator`, their
own process, so the shared one is never disturbed.

`make test` checks that the emulator is installed before pytest starts (Makefile `emulator-check`);
SKIP_EMULATOR_TESTS=1 skips these tests deliberately, and only then.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TypeVar

import pytest

from ops.emulators import EmulatorError, PubSubEmulator

SKIP_VARIABLE = "SKIP_EMULATOR_TESTS"


Emulator = TypeVar("Emulator", bound=PubSubEmulator)  # Google's Pub/Sub or Firestore emulator


def running(emulator: Emulator) -> Iterator[Emulator]:
    """`emulator` started for a fixture to yield, and closed after; the test skipped only with
    SKIP_EMULATOR_TESTS=1, failed naming what is missing otherwise."""
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"{SKIP_VARIABLE}=1: the emulator tests are skipped on purpose")
    try:
        try:
            emulator.start()
        except EmulatorError as error:
            pytest.fail(f"{error} (or set {SKIP_VARIABLE}=1 to skip these tests)", pytrace=False)
        yield emulator
    finally:
        emulator.close()


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulator]:
    """The session's shared emulator; never stop or restart it in a test."""
    yield from running(PubSubEmulator())


@pytest.fixture
def private_pubsub_emulator() -> Iterator[PubSubEmulator]:
    """An emulator of this test's own, free to stop and restart on its address."""
    yield from running(PubSubEmulator())


@pytest.fixture
def emulator_project() -> str:
    """A project id no other test uses: the emulator's state is per project."""
    return f"e2e-{uuid.uuid4().hex[:12]}"
