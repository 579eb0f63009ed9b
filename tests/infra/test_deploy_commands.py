"""The Makefile's deploy commands: the user's Pulumi login untouched, one bootstrap command, and
every missing prerequisite named at once. Pulumi and gcloud are replaced by a recording fake."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from tests.fakes.stack_cli import PULUMI_VERSION
from tests.infra.harness import REPOSITORY
from tests.supply.lockfile import direct_requirements

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

FAKE_CLI = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_CLI_LOG"], "a") as log:
    log.write(json.dumps({{
        "tool": os.path.basename(sys.argv[0]),
        "args": sys.argv[1:],
        "backend": os.environ.get("PULUMI_BACKEND_URL"),
    }}) + "\\n")
arguments = sys.argv[1:]
if arguments == ["version"]:
    print(os.environ.get("FAKE_PULUMI_VERSION", "{PULUMI_VERSION}"))
if arguments[:2] == ["config", "get"]:
    stack = arguments[arguments.index("--stack") + 1]
    print(json.loads(os.environ.get("FAKE_PROJECTS", "{{}}")).get(stack, "my-project"))
if arguments[:3] == ["stack", "ls", "--json"]:
    print(os.environ.get("FAKE_STACKS", "[]"))
    sys.exit(int(os.environ.get("FAKE_STACKS_EXIT", "0")))
"""

Make = Callable[..., tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]]


@pytest.fixture
def make(tmp_path: Path) -> Make:
    """Runs a make target with fake `pulumi`/`gcloud`; returns the result and what they ran."""
    log = tmp_path / "calls.jsonl"
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for tool in ("pulumi", "gcloud"):
        (fakes / tool).write_text(FAKE_CLI)
        (fakes / tool).chmod(0o755)

    def run(
        *arguments: str, environment: Mapping[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PULUMI_", "MAKE")) and key != "MFLAGS"
        }
        # Application-default credentials, as a deploy has them (tests/test_makefile.py checks
        # what make says without them).
        credentials = tmp_path / "credentials.json"
        credentials.write_text("{}")
        env.update(
            FAKE_CLI_LOG=str(log),
            GOOGLE_APPLICATION_CREDENTIALS=str(credentials),
            **(environment or {}),
        )
        completed = subprocess.run(
            [
                str(MAKE),
                "--no-print-directory",
                "-C",
                str(REPOSITORY),
                # The virtualenv is `make install`'s business, not this test's.
                "-o",
                ".venv/.installed",
                f"PULUMI={fakes / 'pulumi'}",
                f"GCLOUD={fakes / 'gcloud'}",
                f"STATE_DIR={tmp_path / 'state'}",
                *arguments,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return completed, calls

    return run


PASSPHRASE = {"PULUMI_CONFIG_PASSPHRASE": "test-passphrase"}


@pytest.mark.parametrize("target", ["preview", "deploy", "destroy"])
def test_make_never_runs_pulumi_login_and_sets_the_backend_per_command(
    make: Make, target: str
) -> None:
    completed, calls = make(
        target, "STACK=dev", "BACKEND=gs://state-bucket/ai-service", environment=PASSPHRASE
    )
    assert completed.returncode == 0, completed.stderr
    pulumi_calls = [call for call in calls if call["tool"] == "pulumi"]
    assert pulumi_calls, "make ran no pulumi command"
    assert not [call for call in pulumi_calls if call["args"][:1] == ["login"]], pulumi_calls
    for call in pulumi_calls:
        assert call["backend"] == "gs://state-bucket/ai-service", call


def test_make_honours_an_exported_pulumi_backend_url(make: Make) -> None:
    completed, calls = make(
        "preview",
        "STACK=dev",
        environment={**PASSPHRASE, "PULUMI_BACKEND_URL": "gs://team-state/ai-service"},
    )
    assert completed.returncode == 0, completed.stderr
    assert {call["backend"] for call in calls} == {"gs://team-state/ai-service"}


def test_make_defaults_to_a_local_file_backend_it_creates(make: Make, tmp_path: Path) -> None:
    completed, calls = make("preview", "STACK=dev", environment=PASSPHRASE)
    assert completed.returncode == 0, completed.stderr
    assert {call["backend"] for call in calls} == {f"file://{tmp_path / 'state'}"}
    assert (tmp_path / "state").is_dir()


def test_make_bootstrap_enables_serviceusage_and_cloudresourcemanager_first(make: Make) -> None:
    completed, calls = make("bootstrap", "PROJECT=my-project")
    assert completed.returncode == 0, completed.stderr
    assert calls == [
        {
            "tool": "gcloud",
            "args": [
                "services",
                "enable",
                "serviceusage.googleapis.com",
                "cloudresourcemanager.googleapis.com",
                "--project",
                "my-project",
            ],
            "backend": None,
        }
    ]


def test_make_bootstrap_names_everything_missing_at_once(make: Make) -> None:
    completed, calls = make("bootstrap", "GCLOUD=/nonexistent/gcloud")
    assert completed.returncode != 0
    assert "the gcloud CLI (/nonexistent/gcloud)" in completed.stderr
    assert "PROJECT=<project-id>" in completed.stderr
    assert calls == []


def test_make_deploy_names_every_missing_prerequisite_at_once(make: Make) -> None:
    completed, calls = make("deploy", "STACK=dev", "PULUMI=/nonexistent/pulumi")
    assert completed.returncode != 0
    assert "error: make deploy needs:" in completed.stderr
    assert "the Pulumi CLI (/nonexistent/pulumi)" in completed.stderr
    assert "PULUMI_CONFIG_PASSPHRASE" in completed.stderr
    assert calls == []


def test_an_unreadable_passphrase_file_counts_as_missing(make: Make, tmp_path: Path) -> None:
    completed, calls = make(
        "preview",
        "STACK=dev",
        environment={"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "no-such-file")},
    )
    assert completed.returncode != 0
    assert "PULUMI_CONFIG_PASSPHRASE_FILE naming a readable file" in completed.stderr
    assert [call["args"] for call in calls] == [["version"]], "only the check may run"


def test_make_deploy_refuses_a_second_stack_in_the_same_project(make: Make) -> None:
    stacks = json.dumps([{"name": "dev"}, {"name": "organization/ai-service/prod"}])
    completed, calls = make(
        "deploy",
        "STACK=dev",
        environment={**PASSPHRASE, "FAKE_STACKS": stacks},
    )
    assert completed.returncode != 0
    assert "stack prod already deploys to project my-project" in completed.stderr
    assert "one stack per project" in completed.stderr
    assert not [call for call in calls if call["args"][:1] == ["up"]], "it deployed anyway"


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ({"FAKE_STACKS_EXIT": "1"}, "stack ls --json' failed"),
        ({"FAKE_STACKS": "error: no backend"}, "printed no JSON list of stacks"),
        ({"FAKE_STACKS": json.dumps({"name": "prod"})}, "printed no JSON list of stacks"),
    ],
)
@pytest.mark.parametrize("target", ["deploy", "preview"])
def test_the_one_stack_per_project_guard_fails_when_it_cannot_list_the_stacks(
    make: Make, target: str, listing: dict[str, str], message: str
) -> None:
    completed, calls = make(target, "STACK=dev", environment={**PASSPHRASE, **listing})
    assert completed.returncode != 0
    [line] = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert "cannot check one stack per project" in line
    assert message in line
    assert not [call for call in calls if call["args"][:1] in (["up"], ["preview"])], (
        f"{target} ran unchecked"
    )


def test_make_deploy_allows_stacks_of_other_projects(make: Make) -> None:
    completed, calls = make(
        "deploy",
        "STACK=dev",
        environment={
            **PASSPHRASE,
            "FAKE_STACKS": json.dumps([{"name": "dev"}, {"name": "prod"}]),
            "FAKE_PROJECTS": json.dumps({"prod": "my-prod-project"}),
        },
    )
    assert completed.returncode == 0, completed.stderr
    assert [call["args"][:1] for call in calls if call["args"][:1] == ["up"]] == [["up"]]


KMS_KEY = (
    "gcpkms://projects/my-project/locations/global/keyRings/pulumi/cryptoKeys/ai-service-stack"
)


def test_a_stack_created_on_cloud_kms_needs_no_passphrase(make: Make) -> None:
    """docs/ci.md: the stack CI deploys is created on a KMS key its deployers may decrypt with."""
    completed, calls = make("deploy", "STACK=prod", f"SECRETS_PROVIDER={KMS_KEY}")
    assert completed.returncode == 0, completed.stderr
    [select] = [call["args"] for call in calls if call["args"][:2] == ["stack", "select"]]
    assert select == ["stack", "select", "--create", "--secrets-provider", KMS_KEY, "prod"]


def test_a_stack_whose_file_names_its_secrets_provider_needs_no_passphrase(make: Make) -> None:
    stack = f"kms-{os.getpid()}"
    stack_file = REPOSITORY / f"Pulumi.{stack}.yaml"
    stack_file.write_text(f"secretsprovider: {KMS_KEY}\nencryptedkey: Y2lwaGVy\n")
    try:
        completed, calls = make("preview", f"STACK={stack}")
    finally:
        stack_file.unlink()
    assert completed.returncode == 0, completed.stderr
    assert [call["args"][:1] for call in calls if call["args"][:1] == ["preview"]] == [["preview"]]


def test_a_new_stack_is_created_on_the_passphrase_provider_by_default(make: Make) -> None:
    completed, calls = make("deploy", "STACK=dev", environment=PASSPHRASE)
    assert completed.returncode == 0, completed.stderr
    [select] = [call["args"] for call in calls if call["args"][:2] == ["stack", "select"]]
    assert select[2:5] == ["--create", "--secrets-provider", "passphrase"]


def oldest_supported_pulumi() -> Version:
    """The lower bound of the Pulumi SDK in infra/requirements.in: the oldest CLI make accepts."""
    requirement = direct_requirements(REPOSITORY / "infra" / "requirements.in")["pulumi"]
    [bound] = [spec for spec in requirement.specifier if spec.operator == ">="]
    return Version(bound.version)


def test_make_refuses_a_pulumi_cli_older_than_the_program_supports(make: Make) -> None:
    oldest = oldest_supported_pulumi()
    older = f"{oldest.major}.{oldest.minor - 1}.99"

    completed, calls = make(
        "preview", "STACK=dev", environment={**PASSPHRASE, "FAKE_PULUMI_VERSION": f"v{older}"}
    )

    assert completed.returncode != 0
    assert f"the Pulumi CLI {oldest} or newer (" in completed.stderr
    assert f"version says {older})" in completed.stderr
    assert [call["args"] for call in calls] == [["version"]], "nothing may run after a refusal"


def test_make_accepts_the_oldest_pulumi_cli_the_program_supports(make: Make) -> None:
    oldest = oldest_supported_pulumi()

    completed, calls = make(
        "preview",
        "STACK=dev",
        environment={**PASSPHRASE, "FAKE_PULUMI_VERSION": f"v{oldest.major}.{oldest.minor}.0"},
    )

    assert completed.returncode == 0, completed.stderr
    assert ["preview"] in [call["args"][:1] for call in calls]
