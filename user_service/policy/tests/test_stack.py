"""The real User-Service stack, as the mocks register it, passes every policy of its pack; and it has
the one public service the pack allows."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pack_harness import judge

REPOSITORY = Path(__file__).resolve().parents[3]
MAIN_PYTHON = REPOSITORY / ".venv" / "bin" / "python"


@pytest.fixture(scope="module")
def stack_resources() -> list[dict[str, Any]]:
    assert MAIN_PYTHON.exists(), f"{MAIN_PYTHON} is missing: run `make install` first"
    completed = subprocess.run(
        [str(MAIN_PYTHON), "-m", "tests.user_service.dump_stack"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    resources: list[dict[str, Any]] = json.loads(completed.stdout)
    return resources


def test_the_stack_registers_what_the_pack_guards(stack_resources: list[dict[str, Any]]) -> None:
    public = [r for r in stack_resources if r["inputs"].get("member") == "allUsers"]
    assert [r["type"] for r in public] == ["gcp:cloudrunv2/serviceIamMember:ServiceIamMember"]
    assert any(r["inputs"].get("pushConfig") for r in stack_resources)
    assert any(r["type"] == "gcp:cloudfunctionsv2/function:Function" for r in stack_resources)


def test_every_resource_of_the_real_stack_passes_every_policy(
    stack_resources: list[dict[str, Any]],
) -> None:
    failures = {
        r["urn"]: verdict for r in stack_resources if (verdict := judge(r["type"], r["inputs"]))
    }
    assert failures == {}, json.dumps(failures, indent=2)
