"""What a user reads before the first `up`: one stack per project, bootstrap, the CI deployer's
roles, the build fallback and the function-resource decision, each with its source."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.infra.harness import REPOSITORY

README = (REPOSITORY / "README.md").read_text()
DEPLOYER = "serviceAccount:ai-service-ci-deploy@my-project.iam.gserviceaccount.com"
STACK_ACCOUNTS = {"ai-service-sa", "ai-service-builder", "ai-service-invoker"}


def section(heading: str) -> str:
    """The README text from a heading to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", README, re.MULTILINE)
    assert match, f"README has no section {heading!r}"
    level = len(match.group(1))
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(README, match.end())
    return README[match.end() : following.start() if following else len(README)]


def shell_blocks() -> list[str]:
    return re.findall(r"```(?:bash|sh)\n(.*?)```", README, re.DOTALL)


def test_one_stack_per_project_is_said_before_the_first_up() -> None:
    deploy = section("Deploy")
    assert "One stack per project" in deploy
    assert deploy.index("One stack per project") < deploy.index("make deploy STACK=dev PROJECT=")
    project = yaml.safe_load((REPOSITORY / "Pulumi.yaml").read_text())
    assert "One stack per Google Cloud project" in project["description"]


def test_readme_gives_the_bootstrap_command_and_why() -> None:
    deploy = section("Deploy")
    assert "make bootstrap PROJECT=" in deploy
    assert "TPG #6101" in deploy
    assert "#11435" in deploy
    assert "make bootstrap PROJECT=" in section("Troubleshooting first deploys")


def test_readme_says_make_never_runs_pulumi_login() -> None:
    deploy = section("Deploy")
    assert "PULUMI_BACKEND_URL" in deploy
    assert "pulumi login" not in README


def test_troubleshooting_gives_the_build_permission_fallback() -> None:
    troubleshooting = section("Troubleshooting first deploys")
    assert "Access to bucket gcf-v2-sources" in troubleshooting
    assert "iamPropagationSeconds" in troubleshooting
    assert "roles/run.builder" in troubleshooting
    assert "TPG #20571" in troubleshooting


def test_function_resource_decision_is_written_down_with_its_sources() -> None:
    deploy = section("Deploy")
    assert "`cloudfunctionsv2.Function`, not `cloudrunv2.Service`" in deploy
    assert "https://cloud.google.com/run/docs/functions/comparison" in deploy
    assert "TPG #22263" in deploy
    assert (REPOSITORY / "docs" / "first-deploy.md").is_file()


def test_boolean_config_says_what_it_accepts() -> None:
    row = next(line for line in README.splitlines() if "`ai-service:forceDestroy`" in line)
    assert "`true`/`false`" in row
    assert "`yes`/`1` are refused" in row


FAKE_GCLOUD = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def option(arguments: list[str], name: str) -> str | None:
    return arguments[arguments.index(name) + 1] if name in arguments else None


def deploy_identity_calls(tmp_path: Path) -> list[list[str]]:
    """Runs the README's deploy-identity commands against a recording gcloud."""
    [block] = [block for block in shell_blocks() if "DEPLOY_SA=" in block]
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


@pytest.mark.parametrize("account", sorted(STACK_ACCOUNTS))
def test_prerequisites_name_each_account_the_deployer_acts_as(account: str) -> None:
    assert f"`{account}`" in section("Prerequisites")


def hand_deploy_roles() -> set[str]:
    """The narrower role set the Prerequisites give a person running `make deploy`."""
    prerequisites = section("Prerequisites")
    narrower = prerequisites[prerequisites.index("the narrower set is") :]
    return set(re.findall(r"`(roles/[A-Za-z.]+)`", narrower[: narrower.index("\n4. ")]))


def test_ci_deployer_has_every_role_a_hand_deploy_needs(tmp_path: Path) -> None:
    """CI creates the same stack as a hand deploy (monitoring included), so it needs the same roles."""
    needed = hand_deploy_roles()
    assert {"roles/monitoring.editor", "roles/logging.configWriter"} <= needed
    granted = {
        role
        for call in deploy_identity_calls(tmp_path)
        if option(call, "--member") == DEPLOYER and (role := option(call, "--role"))
    }
    missing = needed - granted
    assert not missing, f"the README's CI deploy identity lacks {sorted(missing)}"
    # Between the deploy identity's commands and the next section ("#" comments in code blocks
    # would end section() early).
    start = README.index("**The deploy identity**")
    table = README[start : README.index("\n### ", start)]
    for role in sorted(needed):
        assert f"| `{role}`" in table, f"the deployer roles table does not explain {role}"
