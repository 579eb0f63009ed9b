"""The CI setup commands in docs/ci.md, run against a recording gcloud: the deploy identity gets every
role docs/deploy.md says a deploy needs, and may act only as the stack's own three accounts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.infra.harness import REPOSITORY

CI_SETUP = (REPOSITORY / "docs" / "ci.md").read_text("utf-8")
DEPLOY = (REPOSITORY / "docs" / "deploy.md").read_text("utf-8")
DEPLOYER = "serviceAccount:ai-service-ci-deploy@my-project.iam.gserviceaccount.com"
STACK_ACCOUNTS = {"ai-service-sa", "ai-service-builder", "ai-service-invoker"}

FAKE_GCLOUD = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def option(arguments: list[str], name: str) -> str | None:
    return arguments[arguments.index(name) + 1] if name in arguments else None


def deploy_identity_calls(tmp_path: Path) -> list[list[str]]:
    """Runs docs/ci.md's deploy-identity commands against a recording gcloud."""
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", CI_SETUP, re.DOTALL)
    [block] = [block for block in blocks if "DEPLOY_SA=" in block]
    (tmp_path / "gcloud").write_text(FAKE_GCLOUD)
    (tmp_path / "gcloud").chmod(0o755)
    log = tmp_path / "calls.jsonl"
    environment = {
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GCLOUD_LOG": str(log),
        "PROJECT_ID": "my-project",
        "POOL": "projects/1/locations/global/workloadIdentityPools/github",
        "REPO": "owner/repo",
    }
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def deploy_roles() -> set[str]:
    """The roles in docs/deploy.md's table of what a deployer needs (first cell of each row)."""
    return set(re.findall(r"^\| `(roles/[A-Za-z.]+)`", DEPLOY, re.MULTILINE))


def test_ci_deployer_may_act_only_as_the_stack_accounts(tmp_path: Path) -> None:
    calls = deploy_identity_calls(tmp_path)
    user_grants: list[list[str]] = [
        call for call in calls if option(call, "--role") == "roles/iam.serviceAccountUser"
    ]
    project_wide = [call for call in user_grants if call[:1] == ["projects"]]
    assert project_wide == [], "serviceAccountUser on the project lets CI act as every account"
    on_accounts = {
        call[3].split("@")[0]
        for call in user_grants
        if call[:3] == ["iam", "service-accounts", "add-iam-policy-binding"]
    }
    assert on_accounts == STACK_ACCOUNTS
    for call in user_grants:
        assert option(call, "--member") == DEPLOYER, call


def test_ci_deployer_has_every_role_a_hand_deploy_needs(tmp_path: Path) -> None:
    """CI creates the same stack as a hand deploy (monitoring included), so it needs the same roles."""
    needed = deploy_roles()
    assert {"roles/monitoring.editor", "roles/logging.configWriter"} <= needed
    granted = {
        role
        for call in deploy_identity_calls(tmp_path)
        if option(call, "--member") == DEPLOYER and (role := option(call, "--role"))
    }
    missing = needed - granted
    assert not missing, f"docs/ci.md's deploy identity lacks {sorted(missing)}"
