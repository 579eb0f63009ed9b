"""docs/ci.md's setup commands, run against a recording gcloud (issue 17, findings 1 and 13).

CI's deployer may create the stack's resource types at project level and administer only the stack's
own resources; the only project-wide grants are an explicit, justified list; it sets IAM on no service
account but the stack's three; every resource the stack declares has its administration grant; and each
Workload Identity provider admits exactly the workflow, event and ref of its identity, by the
repository's and owner's numeric ids.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from infra.settings import (
    ARTIFACT_REPOSITORY,
    BUILD_ACCOUNT_ID,
    FUNCTION_NAME,
    INVOKER_ACCOUNT_ID,
    RUNTIME_ACCOUNT_ID,
)
from tests.infra.cel import evaluate
from tests.infra.harness import REPOSITORY, ProgramRun, run_program

CI_SETUP = (REPOSITORY / "docs" / "ci.md").read_text("utf-8")
DEPLOY = (REPOSITORY / "docs" / "deploy.md").read_text("utf-8")
PROJECT = "my-project"  # docs/ci.md's example project
REGION = "us-central1"
REPO_ID, OWNER_ID = "424242", "2020"
DEPLOYER = f"serviceAccount:ai-service-ci-deploy@{PROJECT}.iam.gserviceaccount.com"
PREVIEWER = f"serviceAccount:ai-service-ci-preview@{PROJECT}.iam.gserviceaccount.com"
STACK_ACCOUNTS = {RUNTIME_ACCOUNT_ID, BUILD_ACCOUNT_ID, INVOKER_ACCOUNT_ID}
DEPLOY_ROLE = f"projects/{PROJECT}/roles/aiServiceCiDeploy"
PREVIEW_ROLE = f"projects/{PROJECT}/roles/aiServiceCiPreview"

# The only project-wide grants docs/ci.md may make, each with why no narrower resource serves.
PROJECT_WIDE = {
    (DEPLOYER, DEPLOY_ROLE): "creating resources is a project permission; monitoring, log-based "
    "metrics and API enablement have no narrower resource",
    (PREVIEWER, PREVIEW_ROLE): "get_project reads the project's metadata",
}

# What creating each resource type the stack declares takes at project level: the create call, the
# read of the new resource (its creator gets no grant on it), and the wait on its operation.
CREATE_PERMISSIONS: dict[str, set[str]] = {
    "gcp:projects/service:Service": {
        "serviceusage.services.enable",
        "serviceusage.services.get",
        "serviceusage.services.list",
        "serviceusage.operations.get",
    },
    "gcp:serviceaccount/account:Account": {"iam.serviceAccounts.create", "iam.serviceAccounts.get"},
    "gcp:pubsub/topic:Topic": {"pubsub.topics.create", "pubsub.topics.get"},
    "gcp:pubsub/subscription:Subscription": {
        "pubsub.subscriptions.create",
        "pubsub.subscriptions.get",
    },
    "gcp:storage/bucket:Bucket": {"storage.buckets.create", "storage.buckets.get"},
    "gcp:artifactregistry/repository:Repository": {
        "artifactregistry.repositories.create",
        "artifactregistry.repositories.get",
    },
    "gcp:cloudfunctionsv2/function:Function": {
        "cloudfunctions.functions.create",
        "cloudfunctions.functions.get",
        "cloudfunctions.operations.get",
    },
    # No resource-level IAM exists for these: their whole administration is per project.
    "gcp:monitoring/alertPolicy:AlertPolicy": {
        f"monitoring.alertPolicies.{verb}" for verb in ("create", "get", "update", "delete")
    },
    "gcp:monitoring/notificationChannel:NotificationChannel": {
        f"monitoring.notificationChannels.{verb}" for verb in ("create", "get", "update", "delete")
    },
    "gcp:monitoring/dashboard:Dashboard": {
        f"monitoring.dashboards.{verb}" for verb in ("create", "get", "update", "delete")
    },
    "gcp:logging/metric:Metric": {
        f"logging.logMetrics.{verb}" for verb in ("create", "get", "update", "delete")
    },
}
# The program's get_project call.
PROGRAM_READS = {"resourcemanager.projects.get"}
# Types that need nothing at project level: grants and objects on the stack's own resources (the
# resource-level grants cover them), no cloud at all (a wait), or a human's deploy only.
NOT_CREATED_AT_PROJECT_LEVEL = {
    "gcp:pubsub/topicIAMMember:TopicIAMMember",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketObject:BucketObject",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "time:index/sleep:Sleep",
    # Created once by the first deploy, create-only (docs/ci.md "What CI may not do").
    "gcp:projects/serviceIdentity:ServiceIdentity",
    # Project IAM: a human's deploy (infra/project_level.py stops CI before it).
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/iAMAuditConfig:IAMAuditConfig",
}
# Permissions a project-level CI role may never hold: each reaches beyond the stack's resources.
ESCALATING = re.compile(
    r"\.setIamPolicy$|^iam\.serviceAccounts\.(actAs|getAccessToken|signBlob|signJwt|"
    r"implicitDelegation|getOpenIdToken)$|^iam\.roles\.|^iam\.serviceAccountKeys\.|"
    r"^resourcemanager\.projects\.(setIamPolicy|update|delete)$|^storage\.objects\.|"
    r"^pubsub\.topics\.attachSubscription$|^cloudkms\."
)

FAKE_GCLOUD = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["projects", "describe"]:
    print("123456789012")
if sys.argv[1:3] == ["api", "repos/owner/repo"]:
    print({{".id": "{REPO_ID}", ".owner.id": "{OWNER_ID}"}}[sys.argv[sys.argv.index("--jq") + 1]])
"""
POOL = "projects/123456789012/locations/global/workloadIdentityPools/github"


def option(arguments: list[str], name: str) -> str | None:
    return arguments[arguments.index(name) + 1] if name in arguments else None


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """Every gcloud (and gh) call of every command block on docs/ci.md, in order, in one shell."""
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", CI_SETUP, re.DOTALL)
    assert blocks, "docs/ci.md has no command blocks"
    script = "\n".join(blocks).replace("REPO=OWNER/REPO", "REPO=owner/repo", 1)
    directory = tmp_path_factory.mktemp("ci")
    for tool in ("gcloud", "gh"):
        (directory / tool).write_text(FAKE_GCLOUD)
        (directory / tool).chmod(0o755)
    log = directory / "calls.jsonl"
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=directory,
        env={"PATH": f"{directory}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return [
        call[1:] for call in map(json.loads, log.read_text().splitlines()) if call[0] == "gcloud"
    ]


def grants(calls: list[list[str]], member: str | None = None) -> list[list[str]]:
    found = [call for call in calls if "add-iam-policy-binding" in call]
    return [call for call in found if member is None or option(call, "--member") == member]


def custom_role_permissions(calls: list[list[str]], role: str) -> set[str]:
    role_id = role.rsplit("/", 1)[-1]
    [create] = [call for call in calls if call[:4] == ["iam", "roles", "create", role_id]]
    assert option(create, "--project") == PROJECT
    return set((option(create, "--permissions") or "").split(","))


@pytest.fixture(scope="module")
def stack() -> ProgramRun:
    """The stack as docs/ci.md's example project declares it, alert e-mails included."""
    return run_program({"alertEmails": "oncall@example.com"}, project=PROJECT)


# --- Project-wide grants ------------------------------------------------------------------------


def test_every_project_wide_grant_is_in_the_justified_list(calls: list[list[str]]) -> None:
    project_wide = {
        (option(call, "--member"), option(call, "--role"))
        for call in grants(calls)
        if call[:2] == ["projects", "add-iam-policy-binding"]
    }
    assert project_wide == set(PROJECT_WIDE), (
        f"project-wide grants outside the list: {project_wide - set(PROJECT_WIDE)}"
    )


def test_ci_holds_no_project_iam_admin_and_no_predefined_project_role(
    calls: list[list[str]],
) -> None:
    for call in grants(calls):
        if call[:2] == ["projects", "add-iam-policy-binding"]:
            role = option(call, "--role") or ""
            assert role.startswith(f"projects/{PROJECT}/roles/"), call
            assert option(call, "--condition") == "None", call


def test_the_deploy_role_is_exactly_the_stack_types_creation_and_project_only_administration(
    calls: list[list[str]], stack: ProgramRun
) -> None:
    declared = {item.type for item in stack.custom()}
    unknown = declared - set(CREATE_PERMISSIONS) - NOT_CREATED_AT_PROJECT_LEVEL
    assert not unknown, f"the stack declares types whose CI permissions are undecided: {unknown}"
    needed = PROGRAM_READS.union(
        *(CREATE_PERMISSIONS[kind] for kind in declared if kind in CREATE_PERMISSIONS)
    )
    assert custom_role_permissions(calls, DEPLOY_ROLE) == needed


def test_the_preview_role_reads_the_project_s_metadata_only(calls: list[list[str]]) -> None:
    assert custom_role_permissions(calls, PREVIEW_ROLE) == PROGRAM_READS


@pytest.mark.parametrize("role", [DEPLOY_ROLE, PREVIEW_ROLE])
def test_no_project_level_ci_role_reaches_beyond_the_stack(
    calls: list[list[str]], role: str
) -> None:
    escalating = {
        permission
        for permission in custom_role_permissions(calls, role)
        if ESCALATING.search(permission)
    }
    assert not escalating, f"{role} may {sorted(escalating)} on the whole project"


# --- Service accounts ----------------------------------------------------------------------------


def test_ci_sets_iam_on_and_acts_as_the_stack_s_three_accounts_only(
    calls: list[list[str]],
) -> None:
    on_accounts: dict[str, set[str]] = {}
    for call in grants(calls, DEPLOYER):
        if call[:3] == ["iam", "service-accounts", "add-iam-policy-binding"]:
            on_accounts.setdefault(call[3].split("@")[0], set()).add(option(call, "--role") or "")
    assert set(on_accounts) == STACK_ACCOUNTS
    for account, roles in on_accounts.items():
        assert roles == {"roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser"}, account


def test_only_github_identities_may_act_as_the_ci_accounts(calls: list[list[str]]) -> None:
    ci_accounts = {"ai-service-ci-deploy", "ai-service-ci-preview"}
    for call in grants(calls):
        on_account = call[:3] == ["iam", "service-accounts", "add-iam-policy-binding"]
        if on_account and call[3].split("@")[0] in ci_accounts:
            assert option(call, "--role") == "roles/iam.workloadIdentityUser", call
            assert (option(call, "--member") or "").startswith(
                f"principalSet://iam.googleapis.com/{POOL}/attribute."
            ), call


# --- The stack's own resources -------------------------------------------------------------------


def administered(calls: list[list[str]]) -> dict[tuple[str, str], set[str]]:
    """(kind, name) -> roles the deployer holds on that one resource."""
    kinds = {
        ("pubsub", "topics"): "topic",
        ("pubsub", "subscriptions"): "subscription",
        ("storage", "buckets"): "bucket",
        ("iam", "service-accounts"): "account",
        ("run", "services"): "service",
        ("artifacts", "repositories"): "repository",
    }
    found: dict[tuple[str, str], set[str]] = {}
    for call in grants(calls, DEPLOYER):
        if call[:2] == ["functions", "add-iam-policy-binding"]:
            key = ("function", call[2])
        elif tuple(call[:2]) in kinds:
            key = (kinds[(call[0], call[1])], call[3].removeprefix("gs://").split("@")[0])
        else:
            continue
        found.setdefault(key, set()).add(option(call, "--role") or "")
    return found


def test_every_resource_the_stack_declares_is_administered_on_itself(
    calls: list[list[str]], stack: ProgramRun
) -> None:
    declared = {
        *(("topic", item.inputs["name"]) for item in stack.of_type("gcp:pubsub/topic:Topic")),
        *(
            ("subscription", item.inputs["name"])
            for item in stack.of_type("gcp:pubsub/subscription:Subscription")
        ),
        *(("bucket", item.inputs["name"]) for item in stack.of_type("gcp:storage/bucket:Bucket")),
        *(
            ("account", item.inputs["accountId"])
            for item in stack.of_type("gcp:serviceaccount/account:Account")
        ),
        ("function", FUNCTION_NAME),
        ("service", FUNCTION_NAME),  # the function's Cloud Run service has its name
        ("repository", ARTIFACT_REPOSITORY),
    }
    state = {("bucket", "my-state-bucket")}  # CI's own: the stack's state
    assert set(administered(calls)) == declared | state


def test_the_region_of_the_regional_grants_is_the_stack_s(calls: list[list[str]]) -> None:
    regional = [
        call for call in grants(calls, DEPLOYER) if call[0] in ("functions", "run", "artifacts")
    ]
    assert len(regional) == 3
    for call in regional:
        assert (option(call, "--region") or option(call, "--location")) == REGION, call


# --- The stack's secrets key ---------------------------------------------------------------------


def test_ci_may_decrypt_with_the_stack_s_key_and_never_encrypt(calls: list[list[str]]) -> None:
    key_grants = {
        (option(call, "--member"), option(call, "--role"))
        for call in grants(calls)
        if call[:3] == ["kms", "keys", "add-iam-policy-binding"]
    }
    assert (DEPLOYER, "roles/cloudkms.cryptoKeyDecrypter") in key_grants
    assert (PREVIEWER, "roles/cloudkms.cryptoKeyDecrypter") in key_grants
    ci_roles = {role for member, role in key_grants if member in (DEPLOYER, PREVIEWER)}
    assert ci_roles == {"roles/cloudkms.cryptoKeyDecrypter"}


def test_the_preview_identity_writes_nothing(calls: list[list[str]]) -> None:
    roles = {option(call, "--role") for call in grants(calls, PREVIEWER)}
    assert roles == {
        PREVIEW_ROLE,
        "roles/storage.objectViewer",
        "roles/cloudkms.cryptoKeyDecrypter",
    }


# --- docs/deploy.md's table is what CI holds -----------------------------------------------------


def test_deploy_md_lists_every_role_ci_s_deployer_holds(calls: list[list[str]]) -> None:
    table = dict(re.findall(r"^\| `([^`]+)`[^|]* \| ([^|]+) \|", DEPLOY, re.MULTILINE))
    ci_rows = {
        role.replace("PROJECT_ID", PROJECT)
        for role, where in table.items()
        if "human" not in where.lower()
    }
    held = {option(call, "--role") for call in grants(calls, DEPLOYER)} - {None}
    assert ci_rows == held


# --- Workload Identity Federation ----------------------------------------------------------------


def providers(calls: list[list[str]]) -> dict[str, list[str]]:
    return {
        call[4]: call
        for call in calls
        if call[:4] == ["iam", "workload-identity-pools", "providers", "create-oidc"]
    }


def claims(**overrides: str | None) -> dict[str, str]:
    base = {
        "sub": "repo:owner/repo:ref:refs/heads/main",
        "repository": "owner/repo",
        "repository_id": REPO_ID,
        "repository_owner": "owner",
        "repository_owner_id": OWNER_ID,
        "event_name": "push",
        "ref": "refs/heads/main",
        "environment": "production",
        "workflow_ref": "owner/repo/.github/workflows/deploy.yml@refs/heads/main",
    }
    base.update({key: value for key, value in overrides.items() if value is not None})
    for key, value in overrides.items():
        if value is None:
            base.pop(key)
    return base


DEPLOY_RUN = claims()
PREVIEW_RUN = claims(
    sub="repo:owner/repo:pull_request",
    event_name="pull_request",
    ref="refs/pull/7/merge",
    environment=None,
    workflow_ref="owner/repo/.github/workflows/preview.yml@refs/pull/7/merge",
)


def admitted_by(calls: list[list[str]], token: Mapping[str, Any]) -> set[str]:
    return {
        name
        for name, call in providers(calls).items()
        if evaluate(option(call, "--attribute-condition") or "", {"assertion": token})
    }


def test_the_deploy_job_gets_the_deploy_provider_only(calls: list[list[str]]) -> None:
    assert admitted_by(calls, DEPLOY_RUN) == {"ai-service-deploy"}


def test_a_pull_request_preview_gets_the_preview_provider_only(calls: list[list[str]]) -> None:
    assert admitted_by(calls, PREVIEW_RUN) == {"ai-service-preview"}


@pytest.mark.parametrize(
    "token",
    [
        # Another repository by the same name (after a rename or deletion), or another owner's.
        claims(repository_id="999"),
        claims(repository_owner_id="999"),
        {**PREVIEW_RUN, "repository_id": "999"},
        # Another workflow of this repository (test.yml runs third-party test tools).
        claims(workflow_ref="owner/repo/.github/workflows/test.yml@refs/heads/main"),
        {**PREVIEW_RUN, "workflow_ref": "owner/repo/.github/workflows/test.yml@refs/pull/7/merge"},
        # deploy.yml from another branch, outside the environment, or by another event.
        claims(
            ref="refs/heads/feature",
            workflow_ref="owner/repo/.github/workflows/deploy.yml@refs/heads/feature",
        ),
        claims(environment=None),
        claims(environment="staging"),
        claims(event_name="workflow_dispatch"),
        # A preview by pull_request_target (base code with secrets) or from a tag push.
        {**PREVIEW_RUN, "event_name": "pull_request_target"},
        claims(
            event_name="push",
            ref="refs/tags/v1",
            workflow_ref="owner/repo/.github/workflows/preview.yml@refs/tags/v1",
        ),
    ],
)
def test_no_other_token_gets_either_provider(calls: list[list[str]], token: dict[str, str]) -> None:
    assert admitted_by(calls, token) == set()


def test_each_ci_account_trusts_only_its_own_provider_s_attribute(calls: list[list[str]]) -> None:
    mapped = {
        name: dict(
            item.split("=", 1) for item in (option(call, "--attribute-mapping") or "").split(",")
        )
        for name, call in providers(calls).items()
    }
    expected = {
        "ai-service-ci-deploy": "ai-service-deploy",
        "ai-service-ci-preview": "ai-service-preview",
    }
    for call in grants(calls):
        account = call[3].split("@")[0] if call[:2] == ["iam", "service-accounts"] else None
        if account not in expected:
            continue
        member = option(call, "--member") or ""
        attribute, value = member.removeprefix(f"principalSet://iam.googleapis.com/{POOL}/").split(
            "/"
        )
        assert value == REPO_ID, member
        providers_mapping_it = {name for name, mapping in mapped.items() if attribute in mapping}
        assert providers_mapping_it == {expected[account]}, member
        assert mapped[expected[account]][attribute] == "assertion.repository_id"
