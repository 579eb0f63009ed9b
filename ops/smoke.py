"""Smoke-test a deployed AI-Service by doing, for a few images, what the User-Service does.

    python -m ops.smoke --project P --bucket B --topic T --subscription S [--timeout 180] [IMAGE ...]
    python -m ops.smoke --outputs-json outputs.json [IMAGE ...]   # `pulumi stack output --json`

For each image: upload it to the images bucket as `smoke/<run id>/<file name>`, publish
`{"id": "<unique id>", "path": "<object name>"}` to the new-image topic, then pull the results from the
User-Service subscription (synchronous Pull) until every id has answered or the timeout passes. It
prints one table row per image and exits 0 only if every image came back `labeled`.

The steps are ops/scenario.py's, which `make local` runs against the emulators on this machine.
Results of this run are acknowledged; results for other ids are left to their owner.

Credentials are application-default; STORAGE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST (the client
libraries' own variables) point it at emulators. Exit status: 0 pass, 1 fail, 2 usage or setup error.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from google.auth.exceptions import GoogleAuthError

from ops.common import resolve_outputs, resource_path
from ops.scenario import (
    DEFAULT_MANIFEST,
    DEFAULT_TIMEOUT_SECONDS,
    FAIL,
    PASS,
    USAGE_ERROR,
    Clients,
    Options,
    SampleImage,
    Submission,
    Target,
    UsageError,
    check_images,
    collect,
    load_manifest,
)
from ops.scenario import run as run_scenario

__all__ = ["FAIL", "PASS", "USAGE_ERROR", "collect", "main", "resource_path", "run"]

# `pulumi stack output --json` names, as exported by infra/composition.py build_stack().
OUTPUT_NAMES = {
    "project": "project",
    "bucket": "imagesBucket",
    "topic": "newImageTopic",
    "subscription": "userServiceSubscription",
}


def resolve_target(arguments: argparse.Namespace) -> Target:
    """Explicit arguments win over --outputs-json; all four values are required in the end."""
    values = resolve_outputs(arguments, OUTPUT_NAMES)
    project = values["project"]
    return Target(
        project=project,
        bucket=values["bucket"].removeprefix("gs://").rstrip("/"),
        topic_path=resource_path(project, "topics", values["topic"]),
        subscription_path=resource_path(project, "subscriptions", values["subscription"]),
    )


def new_run_id() -> str:
    """Sortable and unique enough across concurrent runs: UTC time plus 32 random bits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def plan(images: Sequence[SampleImage], run_id: str) -> list[Submission]:
    return [
        Submission(f"smoke-{run_id}-{index}", image, f"smoke/{run_id}/{image.file.name}")
        for index, image in enumerate(images, start=1)
    ]


def run(
    target: Target,
    images: Sequence[SampleImage],
    options: Options,
    clients: Clients,
) -> int:
    run_id = new_run_id()
    submissions = plan(images, run_id)
    print(
        f"smoke run {run_id}: {len(submissions)} image(s) -> gs://{target.bucket}/smoke/{run_id}/, "
        f"publishing to {target.topic_path}, reading {target.subscription_path}"
    )
    return run_scenario(target, submissions, options, clients).exit_code


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.smoke",
        description="Label a few images through a deployed AI-Service, as the User-Service does.",
    )
    parser.add_argument("images", nargs="*", type=Path, help="default: the shipped sample set")
    parser.add_argument(
        "--outputs-json", metavar="FILE", help="`pulumi stack output --json` (- = stdin)"
    )
    parser.add_argument("--project", help="Google Cloud project id (output: project)")
    parser.add_argument("--bucket", help="images bucket (output: imagesBucket)")
    parser.add_argument("--topic", help="new-image topic, name or path (output: newImageTopic)")
    parser.add_argument(
        "--subscription", help="User-Service results subscription (output: userServiceSubscription)"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds to wait for results"
    )
    parser.add_argument(
        "--manifest", type=Path, help=f"images with expect_match (default: {DEFAULT_MANIFEST.name})"
    )
    parser.add_argument(
        "--enforce-match", action="store_true", help="fail when a match differs from expect_match"
    )
    parser.add_argument("--cleanup", action="store_true", help="delete the uploaded objects after")
    parser.add_argument("--max-messages", type=int, default=10, help="per Pull request")
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds between empty Pulls"
    )
    arguments = parser.parse_args(argv)
    if arguments.timeout <= 0 or arguments.max_messages < 1 or arguments.poll_interval < 0:
        parser.error("--timeout must be > 0, --max-messages >= 1, --poll-interval >= 0")
    if arguments.images and arguments.manifest:
        parser.error("give images or --manifest, not both")
    return arguments


def main(argv: Sequence[str] | None = None, clients: Clients | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        target = resolve_target(arguments)
        if arguments.images:
            images = [SampleImage(path.expanduser()) for path in arguments.images]
            enforce_match = False
        else:
            images, enforce_match = load_manifest(arguments.manifest or DEFAULT_MANIFEST)
        check_images(images)
    except UsageError as error:
        print(f"smoke ERROR: {error}", file=sys.stderr)
        return USAGE_ERROR
    options = Options(
        timeout=arguments.timeout,
        enforce_match=enforce_match or arguments.enforce_match,
        cleanup=arguments.cleanup,
        max_messages=arguments.max_messages,
        poll_interval=arguments.poll_interval,
    )
    try:
        clients = clients or Clients.build(target.project)
    except GoogleAuthError as error:
        print(
            f"smoke ERROR: no credentials ({error}); run `gcloud auth application-default login`",
            file=sys.stderr,
        )
        return USAGE_ERROR
    return run(target, images, options, clients)


if __name__ == "__main__":
    sys.exit(main())
