"""CI stops before changing project-level IAM, which only a human deploys (issue 17 finding 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.project_level import PROJECT_LEVEL_TYPES, check
from tests.infra.harness import REPOSITORY, ProgramRun

STACK = "urn:pulumi:prod::ai-service::"
BUILD_READER = (
    f"{STACK}ai-service:infra:FunctionAccess$gcp:projects/iAMMember:IAMMember"
    "::access-build-reads-gcf-sources"
)
AUDIT = (
    f"{STACK}ai-service:infra:StorageAuditLogs$gcp:projects/iAMAuditConfig:IAMAuditConfig"
    "::audit-storage-data-access"
)
TOPIC = f"{STACK}ai-service:infra:Messaging$gcp:pubsub/topic:Topic::messaging-new-image"
FUNCTION = (
    f"{STACK}ai-service:infra:LabelingFunction$gcp:cloudfunctionsv2/function:Function"
    "::labeling-function"
)


def preview(*steps: tuple[str, str]) -> dict[str, Any]:
    """`pulumi preview --json` output (pulumi pkg/display/json.go PreviewDigest) with these steps."""
    return {
        "steps": [{"op": op, "urn": urn} for op, urn in steps],
        "changeSummary": {},
    }


def run_check(tmp_path: Path, digest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return run_on(tmp_path, json.dumps(digest))


def run_on(tmp_path: Path, content: str) -> subprocess.CompletedProcess[str]:
    """`python -m infra.project_level` on a preview file holding `content`, as deploy.yml runs it."""
    path = tmp_path / "preview.json"
    path.write_text(content)
    return subprocess.run(
        [sys.executable, "-m", "infra.project_level", str(path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("op", ["create", "update", "delete", "replace", "create-replacement"])
@pytest.mark.parametrize("urn", [BUILD_READER, AUDIT])
def test_a_change_to_project_level_iam_stops_ci_naming_it_and_the_remedy(
    tmp_path: Path, op: str, urn: str
) -> None:
    completed = run_check(tmp_path, preview(("same", TOPIC), (op, urn), ("update", FUNCTION)))
    assert completed.returncode == 1
    assert f"{op} {urn}" in completed.stderr
    assert "make deploy" in completed.stderr
    assert FUNCTION not in completed.stderr


def test_changes_to_the_stack_s_own_resources_pass(tmp_path: Path) -> None:
    completed = run_check(
        tmp_path,
        preview(("same", BUILD_READER), ("same", AUDIT), ("update", FUNCTION), ("create", TOPIC)),
    )
    assert completed.returncode == 0, completed.stderr


def test_an_unknown_step_counts_as_a_change() -> None:
    assert check(preview(("some-future-op", AUDIT))) == [f"some-future-op {AUDIT}"]


@pytest.mark.parametrize("content", ["not json", json.dumps({"steps": "all"})])
def test_an_unreadable_preview_stops_ci(tmp_path: Path, content: str) -> None:
    completed = run_on(tmp_path, content)
    assert completed.returncode == 2
    assert "cannot read the preview" in completed.stderr


def test_every_project_level_resource_the_stack_declares_is_guarded(
    default_run: ProgramRun,
) -> None:
    """A new project-level resource type in the stack must be known to the guard."""
    declared = {item.type for item in default_run.custom() if item.type.startswith("gcp:projects/")}
    project_policy = declared - {
        "gcp:projects/service:Service",
        "gcp:projects/serviceIdentity:ServiceIdentity",
    }
    assert project_policy, "the stack no longer declares project-level IAM: update this test"
    assert project_policy <= PROJECT_LEVEL_TYPES


def test_the_deploy_workflow_runs_the_check_before_pulumi_up() -> None:
    workflow = yaml.safe_load((REPOSITORY / ".github/workflows/deploy.yml").read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["deploy"]["steps"]]
    [check_at] = [index for index, run in enumerate(runs) if "infra.project_level" in run]
    assert "pulumi preview" in runs[check_at]
    assert "--json" in runs[check_at]
    [up_at] = [index for index, run in enumerate(runs) if run.startswith("pulumi up")]
    assert check_at < up_at
    assert "--policy-pack policy" in runs[up_at]
