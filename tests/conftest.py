"""Checks shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.fakes.pubsub import FakePubSub
from tests.fakes.contracts import ContractWatch
from tests.fakes.emulator import emulator_project, private_pubsub_emulator, pubsub_emulator

# Google's Pub/Sub emulator, for every folder (tests/fakes/emulator.py).
__all__ = ["emulator_project", "private_pubsub_emulator", "pubsub_emulator"]


@pytest.fixture(scope="session")
def contract_watch() -> Iterator[ContractWatch]:
    """Sees every FakePubSub created during the session, whatever fixture or test creates it."""
    watch = ContractWatch()
    FakePubSub.observers.append(watch.observe)
    yield watch
    FakePubSub.observers.remove(watch.observe)


@pytest.fixture(autouse=True)
def published_messages_honour_the_contracts(contract_watch: ContractWatch) -> Iterator[None]:
    """Every message published to a fake during a test validates against contracts/ (at teardown)."""
    yield
    violations = contract_watch.new_violations()
    if violations:
        shown = "\n".join(violations[:20])
        pytest.fail(
            f"{len(violations)} published message(s) break the contract in contracts/:\n{shown}",
            pytrace=False,
        )
