"""The program as a third-party suite runs it: its own minimal mocks, runpy.run_path, any cwd.

Each run is a separate process (tests/infra/outsider.py) without pyproject's pythonpath, so
nothing here leans on how this repository's own harness imports the program.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.source_archive import object_name, source_digest
from tests.infra.conftest import write_function_tree
from tests.infra.harness import PROGRAM, REPOSITORY

OUTSIDER = Path(__file__).with_name("outsider.py")
PROJECT = "my-proj-123"
EMAIL_DOMAIN = "p.iam.gserviceaccount.com"  # what outsider.py's mocks answer
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"


def outsider(
    runs: list[dict[str, Any]], cwd: Path, environment: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Runs the specs in one fresh interpreter; returns each run's error, resources, outputs."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PULUMI_CONFIG") and not key.startswith("AI_SERVICE_")
    }
    env.update(environment or {})
    completed = subprocess.run(
        [sys.executable, str(OUTSIDER), json.dumps(runs)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Points the real program at a small function tree and a temporary archive directory."""
    return {
        "AI_SERVICE_FUNCTION_SOURCE": str(
            write_function_tree(tmp_path_factory.mktemp("outsider-function"))
        ),
        "AI_SERVICE_ARCHIVE_DIRECTORY": str(tmp_path_factory.mktemp("outsider-archives")),
    }


def run_once(
    cwd: Path, environment: Mapping[str, str], config: Mapping[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    [result] = outsider(
        [
            {
                "program": str(PROGRAM),
                "config": dict(config or {"gcp:project": PROJECT}),
                **spec,
            }
        ],
        cwd,
        environment,
    )
    return result


def succeeded(result: dict[str, Any]) -> dict[str, Any]:
    assert result["error"] is None, result["error"]
    return result


@pytest.fixture(scope="module")
def minimal_run(
    tmp_path_factory: pytest.TempPathFactory, isolated: dict[str, str]
) -> dict[str, Any]:
    return succeeded(run_once(tmp_path_factory.mktemp("cwd"), isolated))


def of_type(result: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [item for item in result["resources"] if item["type"] == type_token]


def one(result: dict[str, Any], type_token: str) -> dict[str, Any]:
    [found] = of_type(result, type_token)
    return found


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


# -- M1: runs from any directory, without the repository's pythonpath --------------------------


def test_the_program_runs_from_any_directory_without_pythonpath(
    minimal_run: dict[str, Any],
) -> None:
    assert one(minimal_run, FUNCTION)["inputs"]["name"] == "ai-service-image-labeling"


def test_the_program_runs_in_preview_under_minimal_mocks(
    tmp_path: Path, isolated: dict[str, str]
) -> None:
    succeeded(run_once(tmp_path, isolated, preview=True))


# -- M2: references built from values the program sets, not from provider-computed ids ---------


def test_no_input_is_a_mock_id(minimal_run: dict[str, Any]) -> None:
    for item in minimal_run["resources"]:
        for value in strings(item["inputs"]):
            assert not value.endswith("_id"), f"{item['name']}: input {value!r} is a mock id"


def test_alert_policies_route_to_every_alert_email_channel_under_minimal_mocks(
    tmp_path: Path, isolated: dict[str, str]
) -> None:
    """channel.name is output-only, so minimal mocks leave it None: routes must use channel.id."""
    result = succeeded(
        run_once(
            tmp_path,
            isolated,
            {
                "gcp:project": PROJECT,
                "ai-service:alertEmails": "oncall@example.com,sre@example.org",
            },
        )
    )
    channels = of_type(result, "gcp:monitoring/notificationChannel:NotificationChannel")
    assert len(channels) == 2
    policies = of_type(result, "gcp:monitoring/alertPolicy:AlertPolicy")
    assert len(policies) == 4
    for policy in policies:
        routes = policy["inputs"].get("notificationChannels")
        assert isinstance(routes, list), f"{policy['name']}: {routes!r}"
        assert len(routes) == 2, f"{policy['name']}: {routes!r}"
        assert all(isinstance(route, str) and route for route in routes), policy["name"]


def test_token_creator_grant_names_the_invoker_account(minimal_run: dict[str, Any]) -> None:
    grant = one(minimal_run, "gcp:serviceaccount/iAMMember:IAMMember")
    assert grant["inputs"]["serviceAccountId"] == (
        f"projects/{PROJECT}/serviceAccounts/ai-service-invoker@{EMAIL_DOMAIN}"
    )


def test_build_config_names_the_build_account_and_repository(minimal_run: dict[str, Any]) -> None:
    build = one(minimal_run, FUNCTION)["inputs"]["buildConfig"]
    assert build["serviceAccount"] == (
        f"projects/{PROJECT}/serviceAccounts/ai-service-builder@{EMAIL_DOMAIN}"
    )
    assert build["dockerRepository"] == (
        f"projects/{PROJECT}/locations/us-central1/repositories/ai-service-functions"
    )


def test_repository_grant_names_the_repository(minimal_run: dict[str, Any]) -> None:
    grant = one(minimal_run, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert grant["inputs"]["repository"] == "ai-service-functions"


def test_subscriptions_name_their_topics_by_path(minimal_run: dict[str, Any]) -> None:
    topics = {item["inputs"]["name"]: item["inputs"] for item in of_type(minimal_run, SUBSCRIPTION)}
    path = f"projects/{PROJECT}/topics/"
    assert {name: inputs["topic"] for name, inputs in topics.items()} == {
        "ai-service-image-labeling-push": path + "user-service-new-image",
        "user-service-image-labeled": path + "ai-service-image-labeled",
        "ai-service-image-labeling-dead-letter": path + "ai-service-image-labeling-dead-letter",
    }
    policy = topics["ai-service-image-labeling-push"]["deadLetterPolicy"]
    assert policy["deadLetterTopic"] == path + "ai-service-image-labeling-dead-letter"


# -- S3 and the project number: what a mock leaves out ------------------------------------------


def test_invoker_grant_falls_back_to_the_function_name_as_service(
    tmp_path: Path, isolated: dict[str, str]
) -> None:
    result = succeeded(run_once(tmp_path, isolated, omit=["service", "uri"]))
    grant = one(result, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert grant["inputs"]["name"] == "ai-service-image-labeling"


def test_invoker_grant_uses_the_service_the_function_reports(minimal_run: dict[str, Any]) -> None:
    grant = one(minimal_run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert grant["inputs"]["name"] == "fn-service"


def test_a_missing_project_number_is_a_clear_error(
    tmp_path: Path, isolated: dict[str, str]
) -> None:
    error = run_once(tmp_path, isolated, omit=["number"])["error"]
    assert error is not None
    assert "project number" in error, error
    assert f"gcp.organizations.get_project({PROJECT!r})" in error, error


# -- M3: config values that are not strings (Pulumi.dev.yaml through yaml.safe_load) -----------


@pytest.mark.parametrize("config_via", ["set_all_config", "env"])
def test_dev_stack_yaml_loaded_with_safe_load_runs(
    tmp_path: Path, isolated: dict[str, str], config_via: str
) -> None:
    config = yaml.safe_load((REPOSITORY / "Pulumi.dev.yaml").read_text())["config"]
    assert True in config.values(), "Pulumi.dev.yaml should hold a YAML boolean (forceDestroy)"
    result = succeeded(
        run_once(tmp_path, isolated, {**config, "gcp:project": PROJECT}, config_via=config_via)
    )
    for bucket in of_type(result, "gcp:storage/bucket:Bucket"):
        assert bucket["inputs"]["forceDestroy"] is True, bucket["name"]
    service_config = one(result, FUNCTION)["inputs"]["serviceConfig"]
    assert service_config["maxInstanceCount"] == 10


def test_numbers_and_booleans_in_config_are_read_as_text(
    tmp_path: Path, isolated: dict[str, str]
) -> None:
    config = {
        "gcp:project": PROJECT,
        "ai-service:forceDestroy": False,
        "ai-service:minScore": 0.75,
        "ai-service:maxInstances": 3,
    }
    result = succeeded(run_once(tmp_path, isolated, config))
    environment = one(result, FUNCTION)["inputs"]["serviceConfig"]["environmentVariables"]
    assert environment["MIN_SCORE"] == "0.75"
    for bucket in of_type(result, "gcp:storage/bucket:Bucket"):
        assert bucket["inputs"]["forceDestroy"] is False, bucket["name"]


# -- M4: short project ids that mocks commonly use ---------------------------------------------


def test_short_mock_project_ids_are_accepted(tmp_path: Path, isolated: dict[str, str]) -> None:
    runs = [
        {"program": str(PROGRAM), "config": {"gcp:project": project}}
        for project in ("proj", "test", "p")
    ]
    for project, result in zip(
        ("proj", "test", "p"), outsider(runs, tmp_path, isolated), strict=True
    ):
        succeeded(result)
        assert result["outputs"]["project"] == project


# -- S2: the source of the checkout the program was run from -----------------------------------


def checkout(root: Path, version: str) -> Path:
    """A copy of infra/ next to its own function tree, like a second clone of the repository."""
    shutil.copytree(
        REPOSITORY / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__")
    )
    tree = write_function_tree(root / "function")
    (tree / "labeling" / "core.py").write_text(f"VALUE = {version!r}\n")
    return root


def source_object(result: dict[str, Any]) -> str:
    name: str = one(result, "gcp:storage/bucketObject:BucketObject")["inputs"]["name"]
    return name


def test_two_checkouts_in_one_process_each_ship_their_own_source(tmp_path: Path) -> None:
    first, second = checkout(tmp_path / "a", "a"), checkout(tmp_path / "b", "b")
    runs = [
        {"program": str(root / "infra" / "__main__.py"), "config": {"gcp:project": PROJECT}}
        for root in (first, second)
    ]
    results = [succeeded(result) for result in outsider(runs, tmp_path)]
    for root, result in zip((first, second), results, strict=True):
        expected = object_name(source_digest(root / "function"))
        assert source_object(result) == expected
        assert (root / "build" / "function-archives" / expected).is_file()
    assert source_object(results[0]) != source_object(results[1])


def test_an_unwritable_build_directory_falls_back_to_a_temporary_one(tmp_path: Path) -> None:
    root = checkout(tmp_path / "readonly", "r")
    (root / "build").write_text("a file where the build directory would go")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    [result] = outsider(
        [{"program": str(root / "infra" / "__main__.py"), "config": {"gcp:project": PROJECT}}],
        tmp_path,
        {"TMPDIR": str(temporary)},
    )
    name = source_object(succeeded(result))
    assert list(temporary.rglob(name)), f"{name} was not written under {temporary}"


# -- S6: output names ----------------------------------------------------------------------------


def test_outputs_name_the_user_service_subscription_and_runtime_email(
    minimal_run: dict[str, Any],
) -> None:
    outputs = minimal_run["outputs"]
    assert outputs["userServiceSubscription"] == "user-service-image-labeled"
    assert outputs["runtimeServiceAccountEmail"] == f"ai-service-sa@{EMAIL_DOMAIN}"
    assert "resultsSubscription" not in outputs
    assert "runtimeServiceAccount" not in outputs
