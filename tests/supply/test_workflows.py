"""Issue 17 (findings 3 and 13): the jobs that hold cloud credentials install only the deploy locks,
before they authenticate, and run the Pulumi CLI of the locked SDK's release, the same everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from tests.supply.lockfile import REPOSITORY, makefile_list, read_lock

WORKFLOWS = REPOSITORY / ".github" / "workflows"
CREDENTIAL_JOBS = [WORKFLOWS / "deploy.yml", WORKFLOWS / "preview.yml"]
AUTH_ACTION = "google-github-actions/auth@"
PULUMI_ACTION = "pulumi/actions@"
# make counts: any target but deploy-install builds the full test virtualenv as a prerequisite.
INSTALLING = re.compile(r"\b(pip3?|uv|pipx|poetry|npm|make)\b")


def steps(workflow: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(workflow.read_text())
    return [step for job in document["jobs"].values() for step in job["steps"]]


def pulumi_steps(workflow: Path) -> list[dict[str, Any]]:
    return [step for step in steps(workflow) if step.get("uses", "").startswith(PULUMI_ACTION)]


def locked_pulumi_sdk() -> Version:
    [deploy_lock] = makefile_list("DEPLOY_LOCKS")
    return Version(read_lock(deploy_lock)["pulumi"].version)


@pytest.mark.parametrize("workflow", CREDENTIAL_JOBS, ids=lambda path: path.name)
def test_credentialed_jobs_install_only_the_deploy_locks_and_before_authenticating(
    workflow: Path,
) -> None:
    job_steps = steps(workflow)
    commands = [(index, step["run"]) for index, step in enumerate(job_steps) if "run" in step]
    installs = [(index, run) for index, run in commands if INSTALLING.search(run)]
    assert [run.strip() for _, run in installs] == ["make deploy-install"], installs
    authenticate = next(
        index
        for index, step in enumerate(job_steps)
        if step.get("uses", "").startswith(AUTH_ACTION)
    )
    assert installs[0][0] < authenticate, "nothing may be installed once credentials exist"


def test_every_pulumi_step_pins_the_cli_of_the_locked_sdk_release() -> None:
    pinned = {
        f"{workflow.name}: {step['name']}": str(step.get("with", {}).get("pulumi-version"))
        for workflow in CREDENTIAL_JOBS
        for step in pulumi_steps(workflow)
    }
    assert len(pinned) == len(CREDENTIAL_JOBS), pinned
    # Pulumi releases the CLI and the Python SDK together, under one version number.
    expected = str(locked_pulumi_sdk())
    assert set(pinned.values()) == {expected}, (
        f"pulumi-version must be {expected}, the SDK that infra/requirements.txt locks: {pinned}"
    )
